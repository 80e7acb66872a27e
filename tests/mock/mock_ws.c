/*
 * mock_ws.c - the mock exchange's WebSocket endpoint: handshake checks and
 * one thread per session speaking a small subset of Kalshi's protocol.
 */
#include "tests/mock/mock_ws.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
#define WS_MAX_MESSAGE (1024 * 1024)     /* client message, reassembled */
#define WS_OUT_CAP (256 * 1024)          /* queued output before streams wait */
#define WS_MAX_STREAMS 16
#define WS_MAX_PAD (1024 * 1024)
#define WS_CLOSE_WAIT_MS 2000

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct ws_stream {
	int sid;
	long long count, seq;     /* seq = messages sent so far */
	int64_t interval_us;      /* 0 = as fast as possible */
	int64_t next_us;
	size_t size;
};

struct ws_session {
	struct mock_ctx *ctx;
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	char *in;                 /* raw bytes from the client */
	size_t in_len, in_cap;
	char *msg;                /* message being reassembled */
	size_t msg_len;
	int msg_op;
	char *out;                /* frames to the client */
	size_t out_start, out_len, out_cap;
	struct ws_stream streams[WS_MAX_STREAMS];
	int nstreams, next_sid;
	int64_t close_deadline;   /* we sent close: end at this time at the latest */
	bool sent_close, done;
	char *pad;                /* 'x' * WS_MAX_PAD, made on first use */
};

static pthread_mutex_t ws_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ws_cond = PTHREAD_COND_INITIALIZER;
static struct {
	long open, total, close_frames, eofs, server_closes, drops, pings, messages_sent;
	long long bytes_received;
	int last_close_code;
} ws_st;

/* Monotonic microseconds. */
static int64_t ws_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* See mock_ws.h. */
bool mock_ws_is_path(const char *path)
{
	return strcmp(path, "/trade-api/ws/v2") == 0;
}

/* Whether a comma-separated header value has token tok (any case). */
static bool ws_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, tok, n) == 0 &&
		    (v[n] == '\0' || v[n] == ',' || v[n] == ';' || v[n] == ' ' || v[n] == '\t'))
			return true;
		v = strchr(v, ',');
	}
	return false;
}

/* Queues a JSON error envelope with status on c. */
static enum MHD_Result ws_error(struct MHD_Connection *c, unsigned int status, const char *code,
				const char *message, const char *details)
{
	struct mock_reply r = { 0, NULL, 0 };
	struct MHD_Response *resp;
	enum MHD_Result rc;

	mock_reply_error(&r, status, code, message, details);
	resp = MHD_create_response_from_buffer(r.body_len, r.body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		mock_reply_release(&r);
		return MHD_NO;
	}
	r.body = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	rc = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* ------------------------------------------------------------- output */

/* Appends one unmasked frame (FIN set). Returns 0, or -1 when out of memory. */
static int ws_frame(struct ws_session *s, int op, const char *p, size_t n)
{
	unsigned char h[10];
	size_t hl = 2, need;

	h[0] = (unsigned char)(0x80 | op);
	if (n < 126) {
		h[1] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((unsigned long long)n >> (56 - 8 * i));
		hl = 10;
	}
	if (s->out_start > 0 && s->out_start == s->out_len)
		s->out_start = s->out_len = 0;
	need = s->out_len + hl + n;
	if (need > s->out_cap) {
		size_t ncap = s->out_cap ? s->out_cap : 65536;
		char *no;
		if (s->out_start > 0) {
			memmove(s->out, s->out + s->out_start, s->out_len - s->out_start);
			s->out_len -= s->out_start;
			s->out_start = 0;
			need = s->out_len + hl + n;
		}
		while (ncap < need)
			ncap *= 2;
		if (ncap != s->out_cap) {
			no = realloc(s->out, ncap);
			if (no == NULL)
				return -1;
			s->out = no;
			s->out_cap = ncap;
		}
	}
	memcpy(s->out + s->out_len, h, hl);
	if (n)
		memcpy(s->out + s->out_len + hl, p, n);
	s->out_len += hl + n;
	return 0;
}

/* Appends a text frame holding obj's JSON (obj is taken). */
static void ws_send_json(struct ws_session *s, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (text == NULL)
		return;
	ws_frame(s, OP_TEXT, text, strlen(text));
	free(text);
	pthread_mutex_lock(&ws_lock);
	ws_st.messages_sent++;
	pthread_mutex_unlock(&ws_lock);
}

/* Appends a close frame with code (and no reason). */
static void ws_send_close(struct ws_session *s, int code)
{
	char b[2] = { (char)(code >> 8), (char)(code & 0xff) };

	if (s->sent_close)
		return;
	ws_frame(s, OP_CLOSE, b, code > 0 ? 2 : 0);
	s->sent_close = true;
	s->close_deadline = ws_now_us() + (int64_t)WS_CLOSE_WAIT_MS * 1000;
}

/* Sends what is queued without blocking. Returns -1 when the peer is gone. */
static int ws_flush(struct ws_session *s)
{
	while (s->out_start < s->out_len) {
		ssize_t w = send(s->fd, s->out + s->out_start, s->out_len - s->out_start,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		s->out_start += (size_t)w;
	}
	s->out_start = s->out_len = 0;
	return 0;
}

/* ------------------------------------------------------------- commands */

/* One stream message with sequence number seq. */
static void ws_stream_message(struct ws_session *s, struct ws_stream *st)
{
	char head[160];
	int hn;

	st->seq++;
	if (st->size > 0 && s->pad == NULL) {
		s->pad = malloc(WS_MAX_PAD);
		if (s->pad == NULL)
			return;
		memset(s->pad, 'x', WS_MAX_PAD);
	}
	hn = snprintf(head, sizeof(head),
		      "{\"type\":\"mock_stream\",\"sid\":%d,\"seq\":%lld,\"msg\":{\"n\":%lld,\"pad\":\"",
		      st->sid, st->seq, st->seq);
	{
		size_t n = (size_t)hn + st->size + 3;
		char *buf = malloc(n);
		if (buf == NULL)
			return;
		memcpy(buf, head, (size_t)hn);
		if (st->size)
			memcpy(buf + hn, s->pad, st->size);
		memcpy(buf + (size_t)hn + st->size, "\"}}", 3);
		ws_frame(s, OP_TEXT, buf, n);
		free(buf);
	}
	pthread_mutex_lock(&ws_lock);
	ws_st.messages_sent++;
	pthread_mutex_unlock(&ws_lock);
}

/* Subscribes to each channel in params.channels. */
static void ws_subscribe(struct ws_session *s, json_t *id, json_t *params)
{
	json_t *chans = json_object_get(params, "channels");
	size_t i;
	json_t *ch;

	if (!json_is_array(chans) || json_array_size(chans) == 0) {
		ws_send_json(s, json_pack("{s:O, s:s, s:{s:i, s:s}}", "id", id, "type", "error", "msg",
					  "code", 5, "msg", "Params required"));
		return;
	}
	json_array_foreach(chans, i, ch) {
		const char *name = json_string_value(ch);
		int sid = ++s->next_sid;
		if (name == NULL)
			continue;
		ws_send_json(s, json_pack("{s:O, s:s, s:{s:s, s:i}}", "id", id, "type", "subscribed",
					  "msg", "channel", name, "sid", sid));
		if (strcmp(name, "ticker") == 0) {
			ws_send_json(s, json_pack("{s:s, s:i, s:i, s:{s:s, s:i, s:i, s:i, s:i}}", "type",
						  "ticker", "sid", sid, "seq", 1, "msg", "market_ticker",
						  "KXMOCK-26DEC31-T50", "price", 56, "yes_bid", 55,
						  "yes_ask", 57, "volume", 1200));
		} else if (strcmp(name, "orderbook_delta") == 0) {
			ws_send_json(s, json_pack("{s:s, s:i, s:i, s:{s:s, s:[[ii]], s:[[ii]]}}", "type",
						  "orderbook_snapshot", "sid", sid, "seq", 1, "msg",
						  "market_ticker", "KXMOCK-26DEC31-T50", "yes", 55, 100,
						  "no", 43, 50));
		} else if (strcmp(name, "mock_stream") == 0 && s->nstreams < WS_MAX_STREAMS) {
			struct ws_stream *st = &s->streams[s->nstreams++];
			json_t *cnt = json_object_get(params, "count");
			json_t *rate = json_object_get(params, "rate");
			json_t *size = json_object_get(params, "size");
			long long r = json_is_integer(rate) ? json_integer_value(rate) : 100;
			long long z = json_is_integer(size) ? json_integer_value(size) : 0;
			memset(st, 0, sizeof(*st));
			st->sid = sid;
			st->count = json_is_integer(cnt) ? json_integer_value(cnt) : 10;
			st->interval_us = r > 0 ? 1000000 / r : 0;
			st->size = z < 0 ? 0 : z > WS_MAX_PAD ? WS_MAX_PAD : (size_t)z;
			st->next_us = ws_now_us();
		}
	}
}

/* Stops the streams listed in params.sids. */
static void ws_unsubscribe(struct ws_session *s, json_t *id, json_t *params)
{
	json_t *sids = json_object_get(params, "sids"), *v;
	size_t i;

	json_array_foreach(sids, i, v) {
		int sid = (int)json_integer_value(v);
		for (int k = 0; k < s->nstreams; k++)
			if (s->streams[k].sid == sid)
				s->streams[k].count = s->streams[k].seq;
		ws_send_json(s, json_pack("{s:O, s:s, s:i}", "id", id, "type", "unsubscribed", "sid", sid));
	}
}

/* Handles one complete text message (a command). */
static void ws_command(struct ws_session *s, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	json_t *id = json_object_get(j, "id");
	const char *cmd = json_string_value(json_object_get(j, "cmd"));
	json_t *params = json_object_get(j, "params");
	json_t *nid = id ? id : json_null();

	if (cmd == NULL) {
		ws_send_json(s, json_pack("{s:O, s:s, s:{s:i, s:s}}", "id", nid, "type", "error", "msg",
					  "code", 1, "msg", "Unable to process message"));
	} else if (strcmp(cmd, "subscribe") == 0) {
		ws_subscribe(s, nid, params);
	} else if (strcmp(cmd, "unsubscribe") == 0) {
		ws_unsubscribe(s, nid, params);
	} else if (strcmp(cmd, "mock_close") == 0) {
		json_t *code = json_object_get(params, "code");
		pthread_mutex_lock(&ws_lock);
		ws_st.server_closes++;
		pthread_mutex_unlock(&ws_lock);
		ws_send_close(s, json_is_integer(code) ? (int)json_integer_value(code) : 1000);
	} else if (strcmp(cmd, "mock_drop") == 0) {
		pthread_mutex_lock(&ws_lock);
		ws_st.drops++;
		pthread_mutex_unlock(&ws_lock);
		s->done = true;
	} else {
		ws_send_json(s, json_pack("{s:O, s:s, s:{s:i, s:s}}", "id", nid, "type", "error", "msg",
					  "code", 8, "msg", "Unknown command"));
	}
	json_decref(j);
}

/* Handles one complete message or control frame. */
static void ws_message(struct ws_session *s, int op, const char *p, size_t n)
{
	switch (op) {
	case OP_TEXT:
		ws_command(s, p, n);
		break;
	case OP_BINARY:
		ws_frame(s, OP_BINARY, p, n);
		break;
	case OP_PING:
		pthread_mutex_lock(&ws_lock);
		ws_st.pings++;
		pthread_mutex_unlock(&ws_lock);
		ws_frame(s, OP_PONG, p, n);
		break;
	case OP_PONG:
		break;
	case OP_CLOSE: {
		int code = n >= 2 ? ((unsigned char)p[0] << 8) | (unsigned char)p[1] : 1005;
		pthread_mutex_lock(&ws_lock);
		ws_st.close_frames++;
		ws_st.last_close_code = code;
		pthread_mutex_unlock(&ws_lock);
		if (!s->sent_close)
			ws_send_close(s, n >= 2 ? code : 0);
		s->done = true;   /* after the flush */
		break;
	}
	default:
		ws_send_close(s, 1002);
		break;
	}
}

/* Parses the complete frames at the start of s->in. Returns -1 on a
 * protocol error (a close 1002 is queued). */
static int ws_parse(struct ws_session *s)
{
	size_t off = 0;

	while (!s->done) {
		unsigned char *b = (unsigned char *)s->in + off;
		size_t avail = s->in_len - off, hl = 2;
		unsigned long long n;
		unsigned char mask[4];
		int fin, op;

		if (avail < 2)
			break;
		fin = b[0] & 0x80;
		op = b[0] & 0x0f;
		if (!(b[1] & 0x80)) {
			ws_send_close(s, 1002);   /* client frames must be masked */
			return -1;
		}
		n = b[1] & 0x7f;
		if (n == 126) {
			if (avail < 4)
				break;
			n = ((unsigned)b[2] << 8) | b[3];
			hl = 4;
		} else if (n == 127) {
			if (avail < 10)
				break;
			n = 0;
			for (int i = 0; i < 8; i++)
				n = (n << 8) | b[2 + i];
			hl = 10;
		}
		if (n > WS_MAX_MESSAGE) {
			ws_send_close(s, 1009);
			return -1;
		}
		if (avail < hl + 4 + n)
			break;
		memcpy(mask, b + hl, 4);
		for (size_t i = 0; i < n; i++)
			b[hl + 4 + i] ^= mask[i & 3];
		{
			char *payload = (char *)b + hl + 4;
			if (op >= OP_CLOSE) {
				ws_message(s, op, payload, (size_t)n);
			} else {
				if (op != OP_CONT) {
					s->msg_op = op;
					s->msg_len = 0;
				}
				if (s->msg_len + n > WS_MAX_MESSAGE) {
					ws_send_close(s, 1009);
					return -1;
				}
				if (n) {
					char *nm = realloc(s->msg, s->msg_len + (size_t)n + 1);
					if (nm == NULL)
						return -1;
					s->msg = nm;
					memcpy(s->msg + s->msg_len, payload, (size_t)n);
					s->msg_len += (size_t)n;
				}
				if (fin) {
					ws_message(s, s->msg_op, s->msg ? s->msg : "", s->msg_len);
					s->msg_len = 0;
				}
			}
		}
		off += hl + 4 + (size_t)n;
	}
	if (off) {
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
	return 0;
}

/* Queues the stream messages that are due, while the output has room. */
static void ws_streams_due(struct ws_session *s, int64_t now)
{
	for (int k = 0; k < s->nstreams; k++) {
		struct ws_stream *st = &s->streams[k];
		while (st->seq < st->count && st->next_us <= now &&
		       s->out_len - s->out_start < WS_OUT_CAP && !s->sent_close) {
			ws_stream_message(s, st);
			if (st->interval_us)
				st->next_us += st->interval_us;
		}
	}
}

/* Microseconds until the next stream message is due (-1: none). */
static int64_t ws_streams_wait(const struct ws_session *s, int64_t now)
{
	int64_t best = -1;

	if (s->out_len - s->out_start >= WS_OUT_CAP || s->sent_close)
		return -1;
	for (int k = 0; k < s->nstreams; k++) {
		const struct ws_stream *st = &s->streams[k];
		int64_t d;
		if (st->seq >= st->count)
			continue;
		d = st->next_us > now ? st->next_us - now : 0;
		if (best < 0 || d < best)
			best = d;
	}
	return best;
}

/* The session thread. */
static void *ws_session_main(void *arg)
{
	struct ws_session *s = arg;
	bool eof = false;

	while (!atomic_load(&s->ctx->stopping)) {
		int64_t now = ws_now_us(), wait;
		struct pollfd p = { .fd = s->fd, .events = POLLIN, .revents = 0 };
		int timeout = 50;

		ws_streams_due(s, now);
		if (ws_flush(s) < 0)
			break;
		if (s->done && s->out_start == s->out_len)
			break;
		if (s->sent_close && now >= s->close_deadline)
			break;
		if (s->out_start < s->out_len)
			p.events |= POLLOUT;
		/* rounded up: waking early would spin on a zero timeout */
		wait = ws_streams_wait(s, now);
		if (wait >= 0 && (wait + 999) / 1000 < timeout)
			timeout = (int)((wait + 999) / 1000);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r;
			if (s->in_cap - s->in_len < 65536) {
				size_t ncap = s->in_cap ? s->in_cap * 2 : 131072;
				char *ni;
				if (ncap > 4 * WS_MAX_MESSAGE)
					break;
				ni = realloc(s->in, ncap);
				if (ni == NULL)
					break;
				s->in = ni;
				s->in_cap = ncap;
			}
			r = recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
				eof = true;
				break;
			}
			if (r > 0) {
				s->in_len += (size_t)r;
				pthread_mutex_lock(&ws_lock);
				ws_st.bytes_received += r;
				pthread_mutex_unlock(&ws_lock);
				if (ws_parse(s) < 0)
					s->done = true;
			}
		}
	}
	if (eof && !s->done && !s->sent_close) {
		pthread_mutex_lock(&ws_lock);
		ws_st.eofs++;
		pthread_mutex_unlock(&ws_lock);
	}
	MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(s->in);
	free(s->msg);
	free(s->out);
	free(s->pad);
	free(s);
	pthread_mutex_lock(&ws_lock);
	ws_st.open--;
	pthread_cond_broadcast(&ws_cond);
	pthread_mutex_unlock(&ws_lock);
	return NULL;
}

/* Whether the connection's daemon serves TLS. */
static bool ws_daemon_tls(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
	const union MHD_DaemonInfo *di;

	if (ci == NULL || ci->daemon == NULL)
		return true;   /* the safe choice: a thread works in both modes */
	di = MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_FLAGS);
	return di == NULL || (di->flags & MHD_USE_TLS) != 0;
}

/* libmicrohttpd's upgrade handler: runs the session (see below). */
static void ws_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct mock_ctx *ctx = cls;
	struct ws_session *s = calloc(1, sizeof(*s));
	pthread_attr_t attr;
	pthread_t t;

	(void)con_cls;
	if (s == NULL) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	s->ctx = ctx;
	s->fd = sock;
	s->urh = urh;
	if (extra_in_size > 0) {
		s->in = malloc(extra_in_size + 131072);
		if (s->in != NULL) {
			memcpy(s->in, extra_in, extra_in_size);
			s->in_len = extra_in_size;
			s->in_cap = extra_in_size + 131072;
		}
	}
	pthread_mutex_lock(&ws_lock);
	ws_st.open++;
	ws_st.total++;
	pthread_mutex_unlock(&ws_lock);
	if (!ws_daemon_tls(c)) {
		/* plain HTTP: the session runs here, on the connection's own
		 * thread (allowed in thread-per-connection mode); a separate
		 * thread closing the socket while this one finishes the switch
		 * corrupted libmicrohttpd 0.9.75's heap under load */
		ws_session_main(s);
		return;
	}
	/* TLS: libmicrohttpd forwards between TLS and our socket on this
	 * thread once we return, so the session needs its own */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)256 * 1024);
	if (pthread_create(&t, &attr, ws_session_main, s) != 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		free(s->in);
		free(s);
		pthread_mutex_lock(&ws_lock);
		ws_st.open--;
		pthread_cond_broadcast(&ws_cond);
		pthread_mutex_unlock(&ws_lock);
	}
	pthread_attr_destroy(&attr);
}

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). */
static void ws_accept(const char *key, char out[64])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[256];

	snprintf(buf, sizeof(buf), "%.180s%s", key, WS_GUID);
	SHA1((const unsigned char *)buf, strlen(buf), md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* See mock_ws.h. */
enum MHD_Result mock_ws_answer(struct mock_ctx *ctx, struct MHD_Connection *c,
			       enum mock_sig_result sig, const char *why, unsigned int *status)
{
	const char *upg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
	const char *con = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
	const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
	const char *ext = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Extensions");
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char accept[64], session[32];
	long n;

	if (mock_auth_enforcing(ctx->auth) && sig != MOCK_SIG_VALID) {
		*status = 401;
		return ws_error(c, 401, "unauthorized", "invalid or missing request signature", why);
	}
	if (upg == NULL || !ws_token(upg, "websocket") || con == NULL || !ws_token(con, "upgrade") ||
	    key == NULL || key[0] == '\0' || strlen(key) > 100 || ver == NULL ||
	    strcmp(ver, "13") != 0) {
		*status = 400;
		return ws_error(c, 400, "bad_request", "not a WebSocket version 13 upgrade", NULL);
	}
	ws_accept(key, accept);
	resp = MHD_create_response_for_upgrade(ws_upgraded, ctx);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Upgrade", "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	if (proto != NULL && proto[0]) {
		char first[128];
		size_t k = strcspn(proto, ", \t");
		snprintf(first, sizeof(first), "%.*s", (int)(k < 127 ? k : 127), proto);
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol", first);
	}
	if (ext != NULL && ws_token(ext, "x-mock-ext"))
		MHD_add_response_header(resp, "Sec-WebSocket-Extensions", "x-mock-ext; mock=1");
	pthread_mutex_lock(&ws_lock);
	n = ws_st.total + 1;
	pthread_mutex_unlock(&ws_lock);
	snprintf(session, sizeof(session), "%ld", n);
	MHD_add_response_header(resp, "X-Mock-Session", session);
	rc = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	*status = MHD_HTTP_SWITCHING_PROTOCOLS;
	return rc;
}

/* See mock_ws.h. */
void mock_ws_control(struct mock_reply *r, bool reset)
{
	json_t *j;

	pthread_mutex_lock(&ws_lock);
	if (reset) {
		long open = ws_st.open;
		memset(&ws_st, 0, sizeof(ws_st));
		ws_st.open = open;
	}
	j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i, s:i}", "open", (int)ws_st.open,
		      "total", (int)ws_st.total, "close_frames_received", (int)ws_st.close_frames,
		      "eof_without_close", (int)ws_st.eofs, "server_closes", (int)ws_st.server_closes,
		      "drops", (int)ws_st.drops, "pings", (int)ws_st.pings, "bytes_received",
		      (json_int_t)ws_st.bytes_received, "messages_sent", (int)ws_st.messages_sent,
		      "last_close_code", ws_st.last_close_code);
	pthread_mutex_unlock(&ws_lock);
	mock_reply_json(r, 200, j);
}

/* See mock_ws.h. */
void mock_ws_wait_all(void)
{
	pthread_mutex_lock(&ws_lock);
	while (ws_st.open > 0)
		pthread_cond_wait(&ws_cond, &ws_lock);
	pthread_mutex_unlock(&ws_lock);
}
