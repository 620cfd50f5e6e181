/* validate.h: validators that a rule names with "validator": they accept or
 * reject one regex match (checksums, structural rules), so a pattern can be
 * loose and the answer still precise.  Pure, allocation-free. */
#ifndef AL_VALIDATE_H
#define AL_VALIDATE_H

#include "al.h"

/* Returns 1 when s[0..len) is a valid value, 0 when it must be rejected. */
typedef int (*al_validator_fn)(const char *s, size_t len);

/* Returns the validator registered under name ("luhn", "us_ssn", "iban",
 * "ipv4", "ipv6", "phone", "entropy", ...), or NULL. */
AL_API al_validator_fn al_validator_find(const char *name);

#endif
