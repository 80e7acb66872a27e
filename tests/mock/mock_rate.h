/*
 * mock_rate.h - the exchange's rate limits, enforced when a test asks:
 * two token buckets (read, write) as Kalshi keeps per account, and the
 * endpoint cost table GET /account/endpoint_costs answers.
 *
 * Off by default. PUT /_mock/rate {"enforce": true} turns on Kalshi's
 * Basic tier: read 200 tokens/s, write 100 tokens/s, each bucket holding
 * one second (optional "read_per_s", "write_per_s", "read_capacity",
 * "write_capacity" override). A request the bucket cannot pay for is
 * answered 429 {"error": "too many requests"} with no Retry-After, and
 * counted in "limited". Costs (KALSHI_API.md): the table's cost for a
 * listed endpoint (a listed batch endpoint: per item), else a batch's
 * single-item cost per item, else the table's default_cost (10). Writes
 * are order and order-group mutations (non-GET under /portfolio/);
 * everything else is a read. Thread-safe.
 */
#ifndef MOCK_RATE_H
#define MOCK_RATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct mock_rate;

/* Enforcement off, the default cost table. NULL when out of memory. */
struct mock_rate *mock_rate_new(void);
void mock_rate_free(struct mock_rate *r);

/* Applies {"enforce", "read_per_s", "write_per_s", "read_capacity",
 * "write_capacity"} (buckets refilled). Returns 0, or -1 with err. */
int mock_rate_set(struct mock_rate *r, const json_t *spec, char *err, size_t errlen);

/* {"enforce", rates, capacities, "read_tokens", "write_tokens", "limited"}. */
json_t *mock_rate_get(struct mock_rate *r);

/* Replaces the endpoint cost table ({"default_cost", "endpoint_costs":
 * [{"method","path","cost"}]}). Returns 0, or -1 with err. */
int mock_rate_set_costs(struct mock_rate *r, const json_t *costs, char *err, size_t errlen);

/* A new copy of the endpoint cost table (the /account/endpoint_costs
 * answer). */
json_t *mock_rate_costs(struct mock_rate *r);

/* Takes the request's cost from its bucket. false when enforcing and the
 * bucket cannot pay (answer 429). */
bool mock_rate_admit(struct mock_rate *r, const char *method, const char *path,
		     const char *body, size_t body_len);

#endif
