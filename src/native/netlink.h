/*
 * `igloo-helper netlink attach|configure|detach`: bridge mode's veth, its
 * addresses and route, and its anti-spoofing set elements, over netlink
 * (netlink.c; PROTOCOL.md, "netlink").
 */
#ifndef IGLOO_NETLINK_H
#define IGLOO_NETLINK_H

int cmd_netlink(int argc, char **argv);

#endif
