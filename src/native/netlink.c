/*
 * igloo-helper netlink: bridge mode's attach and detach in one process,
 * speaking rtnetlink and nf_tables netlink itself (no library, no exec of
 * ip or nft: each exec of those costs 5-10 ms here, the whole attach
 * below well under one). PROTOCOL.md, "netlink".
 *
 *   attach PID HOSTVETH BRIDGE ADDR/PREFIX GATEWAY TABLE      (root)
 *     1. the port's anti-spoofing elements, in one nf_tables batch:
 *        HOSTVETH in `ports` and HOSTVETH . ADDR in `pairs` of
 *        `table bridge TABLE`, so the port is filtered from the moment it
 *        exists;
 *     2. one RTM_NEWLINK: the veth pair HOSTVETH <-> eth0, eth0 made
 *        directly in PID's network namespace (by descriptor), HOSTVETH
 *        enslaved to BRIDGE and up;
 *     3. setns into PID's network namespace only (no process of the
 *        container can see or trace this one): lo up, ADDR on eth0, eth0
 *        up, the default route via GATEWAY.
 *     Any failure undoes 2 and 1 (deleting HOSTVETH deletes the pair).
 *   configure PID ADDR/PREFIX GATEWAY                         (a user)
 *     3. only, after lxc-user-nic made the pair: joins PID's user
 *     namespace (the caller owns it: full capabilities there) and its
 *     network namespace; on failure eth0 is deleted, which gives the
 *     pair (and the lxc-usernet quota) back.
 *   detach HOSTVETH ADDR TABLE                                (root)
 *     deletes HOSTVETH if it is still there and the port's elements;
 *     what is not there already is not an error.
 *
 * Exit 0, or 1 with one line on stderr: `igloo-helper netlink: STEP:
 * ERRNO-NAME message` (2 for bad arguments).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "netlink.h"
#include "util.h"

#define BUF_SIZE 2048

struct msg {
	union {
		struct nlmsghdr h;
		char buf[BUF_SIZE];
	};
};

static uint32_t seq_next = 1;

static void *tail(struct msg *m)
{
	return m->buf + NLMSG_ALIGN(m->h.nlmsg_len);
}

static void msg_init(struct msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = NLMSG_LENGTH(n);
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_REQUEST | flags;
	m->h.nlmsg_seq = seq_next++;
	memcpy(NLMSG_DATA(&m->h), hdr, n);
}

/* Appends raw bytes (a nested header's payload, e.g. the peer's ifinfomsg). */
static void put_raw(struct msg *m, const void *data, size_t n)
{
	if (NLMSG_ALIGN(m->h.nlmsg_len) + NLMSG_ALIGN(n) > BUF_SIZE)
		abort(); /* our own messages are a few hundred bytes */
	memcpy(tail(m), data, n);
	m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + NLMSG_ALIGN(n);
}

static void put_attr(struct msg *m, uint16_t type, const void *data, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };
	if (NLMSG_ALIGN(m->h.nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(n) > BUF_SIZE)
		abort();
	char *p = tail(m);
	memcpy(p, &a, sizeof(a));
	memcpy(p + NLA_HDRLEN, data, n);
	m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(n);
}

static void put_str(struct msg *m, uint16_t type, const char *s)
{
	put_attr(m, type, s, strlen(s) + 1);
}

static void put_u32(struct msg *m, uint16_t type, uint32_t v)
{
	put_attr(m, type, &v, sizeof(v));
}

/* Opens a nested attribute; nest_end() fixes its length. */
static size_t nest_begin(struct msg *m, uint16_t type)
{
	size_t at = NLMSG_ALIGN(m->h.nlmsg_len);
	put_attr(m, type, NULL, 0);
	return at;
}

static void nest_end(struct msg *m, size_t at)
{
	struct nlattr *a = (struct nlattr *)(m->buf + at);
	a->nla_len = (uint16_t)(NLMSG_ALIGN(m->h.nlmsg_len) - at);
}

static int nl_open(int protocol)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/*
 * Sends LEN bytes (one or more messages) and reads the acks of the WANT
 * messages that asked for one: 0, or the first -errno the kernel answered.
 */
static int nl_talk(int fd, const void *buf, size_t len, int want)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	char reply[8192];
	while (want > 0) {
		ssize_t n = recv(fd, reply, sizeof(reply), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		unsigned int left = (unsigned int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error != 0)
				return e->error;
			want--;
		}
	}
	return 0;
}

static int nl_send_one(int fd, struct msg *m)
{
	m->h.nlmsg_flags |= NLM_F_ACK;
	return nl_talk(fd, m->buf, m->h.nlmsg_len, 1);
}

/* ---- nf_tables: one port's elements --------------------------------------- */

/* One set element's key in a message: LIST_ELEM { KEY { DATA_VALUE key } }. */
static void nft_element(struct msg *m, const void *key, size_t n)
{
	size_t list = nest_begin(m, NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS);
	size_t elem = nest_begin(m, NLA_F_NESTED | NFTA_LIST_ELEM);
	size_t k = nest_begin(m, NLA_F_NESTED | NFTA_SET_ELEM_KEY);
	put_attr(m, NFTA_DATA_VALUE, key, n);
	nest_end(m, k);
	nest_end(m, elem);
	nest_end(m, list);
}

static void nft_elem_msg(struct msg *m, int add, const char *table, const char *set,
			 const void *key, size_t n)
{
	struct nfgenmsg g = { .nfgen_family = NFPROTO_BRIDGE, .version = NFNETLINK_V0 };
	uint16_t type = (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
	msg_init(m, type, NLM_F_ACK | (add ? NLM_F_CREATE : 0), &g, sizeof(g));
	put_str(m, NFTA_SET_ELEM_LIST_TABLE, table);
	put_str(m, NFTA_SET_ELEM_LIST_SET, set);
	nft_element(m, key, n);
}

static void nft_batch_msg(struct msg *m, uint16_t type)
{
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC,
			      .version = NFNETLINK_V0,
			      .res_id = htons(NFNL_SUBSYS_NFTABLES) };
	msg_init(m, type, 0, &g, sizeof(g));
}

/*
 * Adds (ADD) or deletes the port's elements in one transaction: `ports`
 * holds the name (an ifname is IFNAMSIZ bytes, zero-padded), `pairs` the
 * name and the address (each part of a concatenation on 4-byte words: 16
 * + 4). Deleting an element that is not there fails the batch with ENOENT.
 */
static int nft_port(int add, const char *table, const char *veth, struct in_addr addr)
{
	char name[IFNAMSIZ] = { 0 };
	unsigned char pair[IFNAMSIZ + 4];
	strncpy(name, veth, IFNAMSIZ - 1);
	memcpy(pair, name, IFNAMSIZ);
	memcpy(pair + IFNAMSIZ, &addr.s_addr, 4);

	static struct msg parts[4];
	nft_batch_msg(&parts[0], NFNL_MSG_BATCH_BEGIN);
	nft_elem_msg(&parts[1], add, table, "ports", name, sizeof(name));
	nft_elem_msg(&parts[2], add, table, "pairs", pair, sizeof(pair));
	nft_batch_msg(&parts[3], NFNL_MSG_BATCH_END);
	char batch[4 * BUF_SIZE];
	size_t len = 0;
	for (int i = 0; i < 4; i++) {
		memcpy(batch + len, parts[i].buf, parts[i].h.nlmsg_len);
		len += NLMSG_ALIGN(parts[i].h.nlmsg_len);
	}
	int fd = nl_open(NETLINK_NETFILTER);
	if (fd < 0)
		return fd;
	int err = nl_talk(fd, batch, len, 2);
	close(fd);
	return err;
}

/* ---- rtnetlink ------------------------------------------------------------- */

/* Sets IFF_UP on interface INDEX. */
static int link_up(int fd, int index)
{
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC,
			       .ifi_index = index,
			       .ifi_flags = IFF_UP,
			       .ifi_change = IFF_UP };
	struct msg m;
	msg_init(&m, RTM_NEWLINK, 0, &i, sizeof(i));
	return nl_send_one(fd, &m);
}

static int link_del(int fd, const char *name)
{
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC };
	struct msg m;
	msg_init(&m, RTM_DELLINK, 0, &i, sizeof(i));
	put_str(&m, IFLA_IFNAME, name);
	return nl_send_one(fd, &m);
}

/* The pair HOST <-> eth0, eth0 in the namespace NETNS, HOST on MASTER and up. */
static int veth_create(int fd, const char *host, int master, int netns)
{
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct msg m;
	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &i, sizeof(i));
	put_str(&m, IFLA_IFNAME, host);
	put_u32(&m, IFLA_MASTER, (uint32_t)master);
	size_t info = nest_begin(&m, IFLA_LINKINFO);
	put_str(&m, IFLA_INFO_KIND, "veth");
	size_t data = nest_begin(&m, IFLA_INFO_DATA);
	size_t peer = nest_begin(&m, VETH_INFO_PEER);
	struct ifinfomsg p = { .ifi_family = AF_UNSPEC };
	put_raw(&m, &p, sizeof(p));
	put_str(&m, IFLA_IFNAME, "eth0");
	put_u32(&m, IFLA_NET_NS_FD, (uint32_t)netns);
	nest_end(&m, peer);
	nest_end(&m, data);
	nest_end(&m, info);
	return nl_send_one(fd, &m);
}

static int addr_add(int fd, int index, struct in_addr a, int prefix)
{
	struct ifaddrmsg i = { .ifa_family = AF_INET,
			       .ifa_prefixlen = (unsigned char)prefix,
			       .ifa_scope = RT_SCOPE_UNIVERSE,
			       .ifa_index = (unsigned)index };
	struct msg m;
	msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &i, sizeof(i));
	put_attr(&m, IFA_LOCAL, &a, 4);
	put_attr(&m, IFA_ADDRESS, &a, 4);
	return nl_send_one(fd, &m);
}

static int default_route(int fd, int index, struct in_addr gw)
{
	struct rtmsg r = { .rtm_family = AF_INET,
			   .rtm_table = RT_TABLE_MAIN,
			   .rtm_protocol = RTPROT_BOOT,
			   .rtm_scope = RT_SCOPE_UNIVERSE,
			   .rtm_type = RTN_UNICAST };
	struct msg m;
	msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &r, sizeof(r));
	put_attr(&m, RTA_GATEWAY, &gw, 4);
	put_u32(&m, RTA_OIF, (uint32_t)index);
	return nl_send_one(fd, &m);
}

/* ---- the modes ------------------------------------------------------------- */

static int failed(const char *step, int err)
{
	char name[32];
	fprintf(stderr, "igloo-helper netlink: %s: %s %s\n", step, errno_name(-err, name, sizeof(name)),
		strerror(-err));
	return 1;
}

static int usage(void)
{
	fputs("usage: igloo-helper netlink attach PID HOSTVETH BRIDGE ADDR/PREFIX GATEWAY TABLE\n"
	      "       igloo-helper netlink configure PID ADDR/PREFIX GATEWAY\n"
	      "       igloo-helper netlink detach HOSTVETH ADDR TABLE\n",
	      stderr);
	return 2;
}

static int parse_name(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < IFNAMSIZ && !strchr(s, '/') && !strchr(s, ' ');
}

/* "A.B.C.D/N": address and prefix (1..32). */
static int parse_cidr(const char *s, struct in_addr *a, int *prefix)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return 0;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	unsigned long p;
	if (inet_pton(AF_INET, buf, a) != 1 || parse_ulong(slash + 1, 10, &p) < 0 || p < 1 || p > 32)
		return 0;
	*prefix = (int)p;
	return 1;
}

static int open_ns(const char *pid, const char *kind)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, kind);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* In the container's network namespace (already joined): lo, eth0, the route. */
static int configure_inside(struct in_addr a, int prefix, struct in_addr gw, const char **step)
{
	int fd = nl_open(NETLINK_ROUTE);
	if (fd < 0) {
		*step = "open rtnetlink in the container's network namespace";
		return fd;
	}
	int err = 0;
	int eth0 = (int)if_nametoindex("eth0");
	if (eth0 == 0) {
		*step = "find eth0 in the container";
		err = -errno;
	} else if ((err = link_up(fd, 1)) < 0) {
		*step = "bring lo up";
	} else if ((err = addr_add(fd, eth0, a, prefix)) < 0) {
		*step = "add the address to eth0";
	} else if ((err = link_up(fd, eth0)) < 0) {
		*step = "bring eth0 up";
	} else if ((err = default_route(fd, eth0, gw)) < 0) {
		*step = "add the default route";
	}
	close(fd);
	return err;
}

static int cmd_attach(char **argv)
{
	const char *pid = argv[0], *host = argv[1], *bridge = argv[2], *table = argv[5];
	struct in_addr a, gw;
	int prefix;
	unsigned long p;
	if (parse_ulong(pid, 10, &p) < 0 || p < 1 || !parse_name(host) || !parse_name(bridge) ||
	    !parse_cidr(argv[3], &a, &prefix) || inet_pton(AF_INET, argv[4], &gw) != 1 ||
	    strlen(table) >= 64)
		return usage();
	int master = (int)if_nametoindex(bridge);
	if (master == 0)
		return failed("find the bridge", -errno);
	int netns = open_ns(pid, "net");
	if (netns < 0)
		return failed("open the container's network namespace", netns);
	int err = nft_port(1, table, host, a);
	if (err < 0)
		return failed("add the port's anti-spoofing elements", err);
	const char *step = "open rtnetlink";
	int fd = nl_open(NETLINK_ROUTE);
	if (fd >= 0) {
		step = "create the veth pair";
		err = veth_create(fd, host, master, netns);
		if (err == 0) {
			if (setns(netns, CLONE_NEWNET) < 0) {
				step = "enter the container's network namespace";
				err = -errno;
			} else {
				err = configure_inside(a, prefix, gw, &step);
			}
			if (err < 0)
				(void)link_del(fd, host); /* fd is still the host's */
		}
		close(fd);
	} else {
		err = fd;
	}
	if (err < 0) {
		(void)nft_port(0, table, host, a);
		return failed(step, err);
	}
	return 0;
}

static int cmd_configure(char **argv)
{
	const char *pid = argv[0];
	struct in_addr a, gw;
	int prefix;
	unsigned long p;
	if (parse_ulong(pid, 10, &p) < 0 || p < 1 || !parse_cidr(argv[1], &a, &prefix) ||
	    inet_pton(AF_INET, argv[2], &gw) != 1)
		return usage();
	int userns = open_ns(pid, "user");
	if (userns < 0)
		return failed("open the container's user namespace", userns);
	int netns = open_ns(pid, "net");
	if (netns < 0)
		return failed("open the container's network namespace", netns);
	if (setns(userns, CLONE_NEWUSER) < 0)
		return failed("enter the container's user namespace", -errno);
	if (setns(netns, CLONE_NEWNET) < 0)
		return failed("enter the container's network namespace", -errno);
	const char *step = "";
	int err = configure_inside(a, prefix, gw, &step);
	if (err < 0) {
		int fd = nl_open(NETLINK_ROUTE);
		if (fd >= 0) {
			(void)link_del(fd, "eth0");
			close(fd);
		}
		return failed(step, err);
	}
	return 0;
}

static int cmd_detach(char **argv)
{
	const char *host = argv[0], *table = argv[2];
	struct in_addr a;
	if (!parse_name(host) || inet_pton(AF_INET, argv[1], &a) != 1 || strlen(table) >= 64)
		return usage();
	int fd = nl_open(NETLINK_ROUTE);
	if (fd < 0)
		return failed("open rtnetlink", fd);
	int err = link_del(fd, host);
	close(fd);
	if (err < 0 && err != -ENODEV)
		return failed("delete the host end", err);
	err = nft_port(0, table, host, a);
	if (err < 0 && err != -ENOENT)
		return failed("delete the port's anti-spoofing elements", err);
	return 0;
}

int cmd_netlink(int argc, char **argv)
{
	const char *mode = argc >= 3 ? argv[2] : "";
	if (argc == 9 && strcmp(mode, "attach") == 0)
		return cmd_attach(argv + 3);
	if (argc == 6 && strcmp(mode, "configure") == 0)
		return cmd_configure(argv + 3);
	if (argc == 6 && strcmp(mode, "detach") == 0)
		return cmd_detach(argv + 3);
	return usage();
}
