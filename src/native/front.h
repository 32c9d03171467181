/* The `igloo` command's native front (front.c). */
#ifndef IGLOO_FRONT_H
#define IGLOO_FRONT_H

void front_main(int argc, char **argv) __attribute__((noreturn));
/* Run as `igloo-runc`: the TypeScript CLI's `igloo oci` with the same
 * arguments (the OCI runtime's command line is runc's; nothing native). */
void front_runc(int argc, char **argv) __attribute__((noreturn));

#endif
