/* fuzz_sni.c: libFuzzer target for the TLS ClientHello server-name reader
 * and the LLM host matcher.  The reader must never read past len and must
 * hand back a NUL-terminated lower-case name that fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t cap = 1; cap <= 300; cap += 37) {
        char *host = malloc(cap);
        al_sni_result r = al_tls_sni(data, size, host, cap);
        if (r == AL_SNI_FOUND) {
            size_t l = strnlen(host, cap);
            if (l == cap) abort();
            al_llm_host_match(host, NULL);
            al_llm_host_match(host, "*.example.com,api.test");
        }
        free(host);
    }
    al_tls_is_client_hello(data, size);
    /* the input as a host name and as an extra host list */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    al_llm_host_match(s, NULL);
    al_llm_host_match("api.openai.com", s);
    al_llm_host_match(s, s);
    free(s);
    return 0;
}
