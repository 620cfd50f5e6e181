/* fuzz_validate.c: libFuzzer target for every validator a rule may name.
 * The value is copied into a buffer of exactly its length (no NUL), so a
 * validator that reads past len trips AddressSanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static const char *const names[] = {
    "luhn",  "us_ssn",      "iban",        "ipv4",    "ipv4_public",    "ipv6", "ip",
    "phone", "phone_local", "phone_loose", "entropy", "secret_literal", "jwt"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!al_validator_find(names[i])) abort(); /* a documented name went missing */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = malloc(size ? size : 1);
    memcpy(v, data, size);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int r = al_validator_find(names[i])(v, size);
        if (r != 0 && r != 1) abort();
    }
    free(v);
    if (size < 64) {
        char name[65];
        memcpy(name, data, size);
        name[size] = 0;
        al_validator_find(name);
    }
    return 0;
}
