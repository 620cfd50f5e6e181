# Example client programs: stand-ins for unmodified C programs that talk to
# LLM APIs (built into $(B)/ex/, used by the integration tests, demo and bench).
EX_CFLAGS := -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN)

EXAMPLES += $(B)/ex/client_libcurl $(B)/ex/client_openssl

$(B)/ex/client_libcurl: examples/client_libcurl.c | $(B)/ex
	$(CC) $(EX_CFLAGS) -o $@ $< $(shell pkg-config --cflags --libs libcurl) -lpthread

$(B)/ex/client_openssl: examples/client_openssl.c | $(B)/ex
	$(CC) $(EX_CFLAGS) -o $@ $< $(shell pkg-config --cflags --libs openssl)
