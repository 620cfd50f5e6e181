# The libcurl layer's example client, built three times: against libcurl with
# OpenSSL (libcurl.so.4), GnuTLS (libcurl-gnutls.so.4) and NSS
# (libcurl-nss.so.4), all compiled with libcurl4-openssl-dev's headers.
CURL_CB_CFLAGS := -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) $(shell pkg-config --cflags libcurl)

EXAMPLES += $(B)/ex/client_curl_cb_openssl $(B)/ex/client_curl_cb_gnutls $(B)/ex/client_curl_cb_nss

$(B)/ex/client_curl_cb_openssl: examples/client_curl_cb.c | $(B)/ex
	$(CC) $(CURL_CB_CFLAGS) -o $@ $< -lcurl

$(B)/ex/client_curl_cb_gnutls: examples/client_curl_cb.c | $(B)/ex
	$(CC) $(CURL_CB_CFLAGS) -o $@ $< -l:libcurl-gnutls.so.4

$(B)/ex/client_curl_cb_nss: examples/client_curl_cb.c | $(B)/ex
	$(CC) $(CURL_CB_CFLAGS) -o $@ $< -l:libcurl-nss.so.4
