/* `restore`: criu restore, then the restored container's monitor (restore.c). */
#ifndef IGLOO_RESTORE_H
#define IGLOO_RESTORE_H

int cmd_restore(int argc, char **argv);

#endif
