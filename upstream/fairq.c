/* fairq: see fairq.h. */
#include "upstream/fairq.h"

#include <string.h>

enum fairq_prio fairq_prio_of(const struct route_info *ri)
{
	switch (ri->kind) {
	case ROUTE_GROUP_MUTATION:
		return FAIRQ_SESSION;
	case ROUTE_CANCEL:
	case ROUTE_BATCH_CANCEL:
	case ROUTE_DECREASE:
	case ROUTE_CANCEL_ALL:
		return FAIRQ_CANCEL;
	case ROUTE_READ:
	case ROUTE_API_KEYS:
		return FAIRQ_READ;
	default:
		return FAIRQ_WRITE;
	}
}

/* The slot of client, or -1. */
static int fairq_find(const struct fairq *q, const char *client)
{
	const char *n = client ? client : "";

	for (int i = 0; i < FAIRQ_SLOTS; i++)
		if (q->slot[i].last && strncmp(q->slot[i].name, n, FAIRQ_NAME - 1) == 0)
			return i;  /* names longer than a slot compare by their prefix */
	return -1;
}

uint64_t fairq_last(const struct fairq *q, const char *client)
{
	int i = fairq_find(q, client);

	return i < 0 ? 0 : q->slot[i].last;
}

void fairq_served(struct fairq *q, const char *client)
{
	int i = fairq_find(q, client);

	if (i < 0) {
		/* a free slot, else the least recently served one */
		i = 0;
		for (int j = 1; j < FAIRQ_SLOTS && q->slot[i].last; j++)
			if (q->slot[j].last < q->slot[i].last)
				i = j;
		memset(q->slot[i].name, 0, FAIRQ_NAME);
		strncpy(q->slot[i].name, client ? client : "", FAIRQ_NAME - 1);
	}
	q->slot[i].last = ++q->turn;
}

void *fairq_pick(const struct fairq *q, void *head, void *(*next)(void *),
		 const char *(*client)(void *))
{
	void *pick = head;
	uint64_t best = UINT64_MAX, last = 0;
	const char *prev = NULL;
	int scanned = 0;

	for (void *it = head; it && scanned < FAIRQ_SCAN; it = next(it), scanned++) {
		const char *c = client(it);
		/* a flood is a run of one client's requests: look it up once */
		if (scanned == 0 || c != prev)
			last = fairq_last(q, c);
		prev = c;
		if (last < best) {
			best = last;
			pick = it;
			if (last == 0)
				break;  /* never served: nobody can be longer ago */
		}
	}
	return pick;
}
