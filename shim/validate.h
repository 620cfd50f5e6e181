/* validate.h: validators that a rule names with "validator": they accept or
 * reject one regex match (checksums, structural rules), so a pattern can be
 * loose and the answer still precise.  Pure, allocation-free. */
#ifndef AL_VALIDATE_H
#define AL_VALIDATE_H

#include "al.h"

/* Returns 1 when s[0..len) is a valid value, 0 when it must be rejected. */
typedef int (*al_validator_fn)(const char *s, size_t len);

/* Returns the validator registered under name, or NULL.  The names a rule
 * may give as "validator" (applied to its "value" group, else the match):
 *   luhn         payment card: 12-19 digits in groups of 3+ with one kind of
 *                separator, a scheme's IIN range and length, Luhn checksum
 *   us_ssn       ddd-dd-dddd (same separator twice, or none): not area 000,
 *                666 or 9xx, group 00, serial 0000, one repeated digit or a
 *                published sample number
 *   iban         ISO 13616 country, that country's length, mod 97 == 1;
 *                upper or lower case but not mixed; spaces or dashes
 *   ipv4, ipv4_public, ipv6, ip
 *                parsed addresses (optional /prefix; ipv6 also %zone and an
 *                embedded dotted quad; "::" alone and digit-less forms such
 *                as "Base::Add" are rejected); ipv4_public also rejects
 *                private, loopback, link-local, CGNAT and documentation space
 *   phone        NANP (valid area and exchange codes), +CC / 00CC / 011 CC
 *                with a plausible length for the country code, 0-prefixed
 *                national numbers of 9-11 digits, Chinese mobiles
 *   phone_local  7-12 digits in groups of 2+ (not a date, not ddd-dd-dddd)
 *   phone_loose  phone, or phone_local when the digits are grouped
 *   entropy      a credential-like value: 6-512 bytes, two character
 *                classes, >= 2.5 bits/char, not a placeholder ("changeme",
 *                "<your-key>", "${VAR}", "xxxx", "%s") or code reference
 *   secret_literal
 *                a quoted value assigned to a credential name: 4-256 bytes
 *                without spaces, not a placeholder, code reference, number,
 *                UPPER_CASE constant or CamelCase type name
 *   jwt          header.payload[.signature] whose header and payload are
 *                base64url JSON objects and the header names "alg"
 * The number validators (luhn, us_ssn, phone*) read full-width digits
 * U+FF10-FF19, full-width + - . ( ), U+3000 and U+30FC as their ASCII forms. */
AL_API al_validator_fn al_validator_find(const char *name);

#endif
