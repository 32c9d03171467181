/* The `igloo` command's native front (front.c). */
#ifndef IGLOO_FRONT_H
#define IGLOO_FRONT_H

void front_main(int argc, char **argv) __attribute__((noreturn));

#endif
