/* String helpers that report failure in the public error form. */
#ifndef NBDI_API_STRINGS_H
#define NBDI_API_STRINGS_H

#include <stddef.h>

/* strdup, setting ENOMEM on failure (returns NULL). */
char *nbdi_strdup (const char *s);

/* Replace *field with a copy of s; 0, or -1 with ENOMEM. */
int nbdi_replace_string (char **field, const char *s);

#endif
