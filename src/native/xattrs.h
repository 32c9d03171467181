/*
 * Extended attributes and file capabilities: `xattrs set|copy-tree` and
 * `shift` (xattrs.c).
 */
#ifndef IGLOO_XATTRS_H
#define IGLOO_XATTRS_H

int cmd_xattrs(int argc, char **argv);
int cmd_shift(int argc, char **argv);

#endif
