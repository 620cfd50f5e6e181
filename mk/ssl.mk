# The non-blocking OpenSSL example client (event-loop style: SSL_pending before
# poll, WANT_WRITE retries, partial writes), used by the OpenSSL integration tests.
EXAMPLES += $(B)/ex/client_nonblock

$(B)/ex/client_nonblock: examples/client_nonblock.c | $(B)/ex
	$(CC) -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) -o $@ $< $(shell pkg-config --cflags --libs openssl)
