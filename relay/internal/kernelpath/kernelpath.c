//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// turnkey's kernel fast path: a TCX ingress program that relays UDP
// ChannelData both ways for the channels userspace installed (path.go).
//
//   client → listener, ChannelData on an installed channel:
//       strip the 4-byte header, send relay address → peer
//   peer → relay address, datagram on an installed channel:
//       prepend the header, send listener address → client
//
// Anything else (STUN, Send indications, unknown channels, fragmented or
// oversized datagrams, IPv6 extension headers, routes the
// program cannot resolve) continues down the TCX chain unchanged and
// reaches the userspace relay. The packet is only changed once the route
// for the rewritten packet is known, so a datagram handed on is always the
// one that arrived.
//
// Addresses are kept as 16 bytes, IPv4 as ::ffff:a.b.c.d; a channel's
// addresses are all of one family, so a packet leaves in the family it
// arrived in.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PROTO_UDP 17
#define FAMILY_INET 2
#define FAMILY_INET6 10
#define LOOPBACK_IFINDEX 1
#define CHAN_HLEN 4
// The largest payload relayed in the kernel; longer datagrams take the
// userspace path. It bounds the copy loops below.
#define MAX_PAYLOAD 2048
#define MAX_WORDS (MAX_PAYLOAD / 8)

// TCX_NEXT: leave the packet to the next program and then the stack.
#define VERDICT_NEXT TC_ACT_UNSPEC

#define IP_OFF ETH_HLEN
#define L3_LEN(v6) ((v6) ? 40 : 20)
#define UDP_OFF(v6) (ETH_HLEN + L3_LEN(v6))
#define UDP_CSUM_OFF(v6) (UDP_OFF(v6) + 6)
#define PAYLOAD_OFF(v6) (UDP_OFF(v6) + 8)

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct ip4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct addr {
	__be32 w[4];
};

struct ip6_hdr {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	struct addr saddr;
	struct addr daddr;
};

struct udp_hdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

// up_key: a client's ChannelData as it arrives. An all-zero server
// matches a listener bound to the wildcard address.
struct up_key {
	struct addr client;
	struct addr server;
	__be16 client_port;
	__be16 server_port;
	__be16 number;
	__u16 pad;
};

struct up_value {
	struct addr relay;
	struct addr peer;
	__be16 relay_port;
	__be16 peer_port;
	__u32 slot;
};

// down_key: a peer's datagram as it arrives at the relay socket.
struct down_key {
	struct addr peer;
	struct addr relay;
	__be16 peer_port;
	__be16 relay_port;
};

struct down_value {
	struct addr client;
	struct addr server; // zero: the address the client last sent to (counters.server)
	__be16 client_port;
	__be16 server_port;
	__be16 number;
	__u16 pad;
	__u32 slot;
};

// counters: one slot per installed channel, read by userspace through
// mmap. Payload bytes, as the userspace path counts them.
struct counters {
	__u64 up_packets;
	__u64 up_bytes;
	__u64 down_packets;
	__u64 down_bytes;
	struct addr server;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct up_key);
	__type(value, struct up_value);
	__uint(max_entries, 65536);
} up SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct down_key);
	__type(value, struct down_value);
	__uint(max_entries, 65536);
} down SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
} slots SEC(".maps");

// rewrite modes: what happens to the 4 bytes after the UDP header.
enum {
	MODE_STRIP,   // client → peer: remove the ChannelData header
	MODE_PREPEND, // peer → client: insert one
	MODE_RENUMBER // relay to relay on this host: ChannelData in, ChannelData out
};

enum {
	ROUTE_NONE,  // leave the packet to userspace
	ROUTE_LOCAL, // deliver on this host (loopback ingress only)
	ROUTE_FIB,   // redirect with the looked-up MAC addresses
	ROUTE_NEIGH  // redirect, the kernel resolves the neighbour
};

struct target {
	struct addr saddr, daddr;
	__be16 sport, dport;
	__be16 number; // MODE_PREPEND, MODE_RENUMBER
	__u16 payload; // bytes after any ChannelData header
	__u16 padding; // bytes after the payload (ChannelData padded to 4), dropped
	int mode;
};

// chan_words is the part of the UDP checksum that is not the pseudo
// header: ports, length, the ChannelData header if any and its padding,
// placed as it falls on 16-bit words (after an odd payload length the
// first padding byte is the low half of a word).
struct chan_words {
	__be16 sport, dport, len, zero;
	__be16 number, chan_len;
	__u8 pad[4];
};

// pseudo_words is the pseudo header's changing part (the protocol is
// always UDP); IPv4 uses the last word of each address only.
struct pseudo_words {
	struct addr saddr, daddr;
	__be32 len;
};

static __always_inline int is_zero(const struct addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

static __always_inline __u16 fold(__s64 sum)
{
	__u64 s = (__u32)sum;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline int is_loopback(const struct addr *a, const int v6)
{
	if (v6)
		return !(a->w[0] | a->w[1] | a->w[2]) && a->w[3] == bpf_htonl(1);
	return (bpf_ntohl(a->w[3]) >> 24) == 127;
}

static __always_inline int route(struct __sk_buff *skb, const struct target *t, __u16 l3_len,
				 struct bpf_fib_lookup *fib, const int v6)
{
	int on_lo = skb->ingress_ifindex == LOOPBACK_IFINDEX;

	if (is_loopback(&t->daddr, v6))
		return on_lo ? ROUTE_LOCAL : ROUTE_NONE;
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->l4_protocol = PROTO_UDP;
	fib->sport = t->sport;
	fib->dport = t->dport;
	fib->tot_len = l3_len;
	fib->ifindex = skb->ingress_ifindex;
	if (v6) {
		fib->family = FAMILY_INET6;
		__builtin_memcpy(fib->ipv6_src, &t->saddr, 16);
		__builtin_memcpy(fib->ipv6_dst, &t->daddr, 16);
	} else {
		fib->family = FAMILY_INET;
		fib->ipv4_src = t->saddr.w[3];
		fib->ipv4_dst = t->daddr.w[3];
	}
	switch (bpf_fib_lookup(skb, fib, sizeof(*fib), 0)) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return ROUTE_FIB;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return ROUTE_NEIGH;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		// A local destination: only a packet that came in on loopback
		// may be delivered here with a local source address (on any
		// other device the stack drops it as a martian).
		return on_lo ? ROUTE_LOCAL : ROUTE_NONE;
	}
	return ROUTE_NONE;
}

// move_left copies n payload bytes at off+4 to off.
static __always_inline int move_left(struct __sk_buff *skb, __u32 off, __u32 n)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 words = n / 8, i;

	for (i = 0; i < MAX_WORDS; i++) {
		if (i >= words)
			break;
		__u8 *p = data + off + i * 8;
		if ((void *)(p + CHAN_HLEN + 8) > end)
			return -1;
		__u64 v;
		__builtin_memcpy(&v, p + CHAN_HLEN, 8);
		__builtin_memcpy(p, &v, 8);
	}
	__u32 base = words * 8;
	for (i = 0; i < 7; i++) {
		if (base + i >= n)
			break;
		__u8 *p = data + off + (base & (MAX_PAYLOAD - 1)) + i;
		if ((void *)(p + CHAN_HLEN + 1) > end)
			return -1;
		p[0] = p[CHAN_HLEN];
	}
	return 0;
}

// move_right copies n payload bytes at off to off+4, from the end so the
// overlap is read before it is written.
static __always_inline int move_right(struct __sk_buff *skb, __u32 off, __u32 n)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 words = n / 8, base = words * 8, i;

	for (i = 0; i < 7; i++) {
		if (base + i >= n)
			break;
		__u32 j = n - 1 - i;
		__u8 *p = data + off + (j & (MAX_PAYLOAD - 1));
		if ((void *)(p + CHAN_HLEN + 1) > end)
			return -1;
		p[CHAN_HLEN] = p[0];
	}
	for (i = 0; i < MAX_WORDS; i++) {
		if (i >= words)
			break;
		__u32 w = words - 1 - i;
		__u8 *p = data + off + (w & (MAX_WORDS - 1)) * 8;
		if ((void *)(p + CHAN_HLEN + 8) > end)
			return -1;
		__u64 v;
		__builtin_memcpy(&v, p, 8);
		__builtin_memcpy(p + CHAN_HLEN, &v, 8);
	}
	return 0;
}

// rewrite turns the datagram into t. It returns the verdict: a redirect,
// TC_ACT_OK for local delivery, VERDICT_NEXT if nothing was changed, or
// TC_ACT_SHOT if a helper failed half-way (the datagram is then lost, as
// a datagram the socket could not send).
static __always_inline int rewrite(struct __sk_buff *skb, const struct target *t, const int v6)
{
	struct bpf_fib_lookup fib;
	__u16 udp_len = 8 + t->payload + (t->mode == MODE_STRIP ? 0 : CHAN_HLEN);
	__u16 ip_len = L3_LEN(v6) + udp_len;
	int how = route(skb, t, ip_len, &fib, v6);

	if (how == ROUTE_NONE)
		return VERDICT_NEXT;

	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + PAYLOAD_OFF(v6) > end)
		return VERDICT_NEXT;
	struct udp_hdr *udp = data + UDP_OFF(v6);
	__u8 *chan = data + PAYLOAD_OFF(v6);

	struct pseudo_words old_p = {};
	if (v6) {
		struct ip6_hdr *ip6 = data + IP_OFF;
		old_p.saddr = ip6->saddr;
		old_p.daddr = ip6->daddr;
	} else {
		struct ip4_hdr *ip = data + IP_OFF;
		old_p.saddr.w[3] = ip->saddr;
		old_p.daddr.w[3] = ip->daddr;
	}
	old_p.len = bpf_htonl(bpf_ntohs(udp->len));
	struct chan_words old_c = {udp->source, udp->dest, udp->len, 0, 0, 0, {}};
	if (t->mode != MODE_PREPEND) {
		if ((void *)(chan + CHAN_HLEN) > end)
			return VERDICT_NEXT;
		__builtin_memcpy(&old_c.number, chan, CHAN_HLEN);
	}
	// Padding bytes into a word by shifts (bpfel: memory byte k is bits
	// 8k..8k+7), not a variable index into the stack.
	__u32 padw = 0;
	for (int i = 0; i < 3; i++) {
		if (i >= t->padding)
			break;
		__u8 *p = chan + CHAN_HLEN + (t->payload & (MAX_PAYLOAD - 1)) + i;
		if ((void *)(p + 1) > end)
			return VERDICT_NEXT;
		padw |= (__u32)*p << ((((t->payload & 1) + i) & 3) * 8);
	}
	__builtin_memcpy(old_c.pad, &padw, 4);
	__u32 old_len = skb->len;

	// Growing first turns a CHECKSUM_COMPLETE skb into CHECKSUM_NONE, so
	// the receive checksum the copies below would invalidate is never
	// trusted; the exact length is set at the end.
	if (bpf_skb_change_tail(skb, old_len + CHAN_HLEN, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_pull_data(skb, skb->len))
		return TC_ACT_SHOT;
	if (t->mode == MODE_STRIP && move_left(skb, PAYLOAD_OFF(v6), t->payload))
		return TC_ACT_SHOT;
	if (t->mode == MODE_PREPEND && move_right(skb, PAYLOAD_OFF(v6), t->payload))
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, ETH_HLEN + ip_len, 0))
		return TC_ACT_SHOT;

	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	// A stripped payload may be shorter than a ChannelData header.
	if (data + PAYLOAD_OFF(v6) > end)
		return TC_ACT_SHOT;
	struct eth_hdr *eth = data;
	udp = data + UDP_OFF(v6);
	chan = data + PAYLOAD_OFF(v6);

	struct pseudo_words new_p = {};
	if (v6) {
		struct ip6_hdr nip6 = {
			.vtc_flow = bpf_htonl(6 << 28),
			.payload_len = bpf_htons(udp_len),
			.nexthdr = PROTO_UDP,
			.hop_limit = 64,
			.saddr = t->saddr,
			.daddr = t->daddr,
		};
		__builtin_memcpy(data + IP_OFF, &nip6, sizeof(nip6));
		new_p.saddr = t->saddr;
		new_p.daddr = t->daddr;
	} else {
		struct ip4_hdr nip = {
			.ver_ihl = 0x45,
			.tot_len = bpf_htons(ip_len),
			.frag_off = bpf_htons(0x4000), // DF, as a UDP socket sends
			.ttl = 64,
			.protocol = PROTO_UDP,
			.saddr = t->saddr.w[3],
			.daddr = t->daddr.w[3],
		};
		nip.check = fold(bpf_csum_diff(0, 0, (__be32 *)&nip, sizeof(nip), 0));
		__builtin_memcpy(data + IP_OFF, &nip, sizeof(nip));
		new_p.saddr.w[3] = t->saddr.w[3];
		new_p.daddr.w[3] = t->daddr.w[3];
	}
	udp->source = t->sport;
	udp->dest = t->dport;
	udp->len = bpf_htons(udp_len);
	new_p.len = bpf_htonl(udp_len);
	struct chan_words new_c = {t->sport, t->dport, udp->len, 0, 0, 0, {}};
	if (t->mode != MODE_STRIP) {
		new_c.number = t->number;
		new_c.chan_len = bpf_htons(t->payload);
		if ((void *)(chan + CHAN_HLEN) > end)
			return TC_ACT_SHOT;
		__builtin_memcpy(chan, &new_c.number, CHAN_HLEN);
	}

	// The pseudo header separately: on a CHECKSUM_PARTIAL skb the
	// checksum field holds only its sum, and the helper updates it so.
	__s64 d = bpf_csum_diff((__be32 *)&old_p, sizeof(old_p), (__be32 *)&new_p, sizeof(new_p), 0);
	if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF(v6), 0, d, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0))
		return TC_ACT_SHOT;
	d = bpf_csum_diff((__be32 *)&old_c, sizeof(old_c), (__be32 *)&new_c, sizeof(new_c), 0);
	if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF(v6), 0, d, BPF_F_MARK_MANGLED_0))
		return TC_ACT_SHOT;

	switch (how) {
	case ROUTE_LOCAL:
		return TC_ACT_OK;
	case ROUTE_FIB:
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + ETH_HLEN > end)
			return TC_ACT_SHOT;
		eth = data;
		__builtin_memcpy(eth->dst, fib.dmac, 6);
		__builtin_memcpy(eth->src, fib.smac, 6);
		return bpf_redirect(fib.ifindex, 0);
	}
	return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
}

static __always_inline struct counters *slot_of(__u32 slot)
{
	return bpf_map_lookup_elem(&slots, &slot);
}

// relay handles one IPv4 (v6 0) or IPv6 (v6 1) datagram; v6 is a
// constant in each inlined copy.
static __always_inline int relay(struct __sk_buff *skb, const int v6)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 want = skb->len < PAYLOAD_OFF(v6) + CHAN_HLEN ? PAYLOAD_OFF(v6) : PAYLOAD_OFF(v6) + CHAN_HLEN;
	if (data + want > end) {
		if (skb->len < PAYLOAD_OFF(v6) || bpf_skb_pull_data(skb, want))
			return VERDICT_NEXT;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + PAYLOAD_OFF(v6) > end)
			return VERDICT_NEXT;
	}
	struct udp_hdr *udp = data + UDP_OFF(v6);
	__u8 *chan = data + PAYLOAD_OFF(v6);
	struct addr saddr = {}, daddr = {};
	__u32 udp_len = bpf_ntohs(udp->len);
	if (v6) {
		struct ip6_hdr *ip6 = data + IP_OFF;
		// No extension headers: anything but UDP right after the fixed
		// header goes to userspace.
		if ((bpf_ntohl(ip6->vtc_flow) >> 28) != 6 || ip6->nexthdr != PROTO_UDP)
			return VERDICT_NEXT;
		if (udp_len < 8 || udp_len != bpf_ntohs(ip6->payload_len) || ETH_HLEN + 40 + udp_len > skb->len)
			return VERDICT_NEXT;
		saddr = ip6->saddr;
		daddr = ip6->daddr;
	} else {
		struct ip4_hdr *ip = data + IP_OFF;
		if (ip->ver_ihl != 0x45 || ip->protocol != PROTO_UDP)
			return VERDICT_NEXT;
		if (ip->frag_off & bpf_htons(0x3fff)) // a fragment
			return VERDICT_NEXT;
		__u32 ip_len = bpf_ntohs(ip->tot_len);
		if (udp_len < 8 || udp_len + 20 != ip_len || ETH_HLEN + ip_len > skb->len)
			return VERDICT_NEXT;
		saddr.w[2] = bpf_htonl(0xffff);
		saddr.w[3] = ip->saddr;
		daddr.w[2] = bpf_htonl(0xffff);
		daddr.w[3] = ip->daddr;
	}
	__u32 payload = udp_len - 8;
	if (payload > MAX_PAYLOAD)
		return VERDICT_NEXT;

	struct target t = {};
	if (payload >= CHAN_HLEN && (void *)(chan + CHAN_HLEN) <= end && (chan[0] & 0xc0) == 0x40) {
		struct up_key k = {saddr, daddr, udp->source, udp->dest, 0, 0};
		__builtin_memcpy(&k.number, chan, 2);
		struct up_value *v = bpf_map_lookup_elem(&up, &k);
		if (!v) {
			__builtin_memset(&k.server, 0, sizeof(k.server));
			v = bpf_map_lookup_elem(&up, &k);
		}
		__u16 n = (__u16)chan[2] << 8 | chan[3];
		// The length exactly, or padded to a multiple of 4 (RFC 8656
		// §12.5 lets UDP clients pad; pion's do).
		__u32 pad = payload - CHAN_HLEN - n;
		if (v && n + CHAN_HLEN <= payload && (pad == 0 || ((n + 3) & ~3) == n + pad)) {
			struct counters *c = slot_of(v->slot);
			if (!c)
				return VERDICT_NEXT;
			t.saddr = v->relay;
			t.sport = v->relay_port;
			t.daddr = v->peer;
			t.dport = v->peer_port;
			t.payload = n;
			t.padding = pad;
			t.mode = MODE_STRIP;
			// Relay to relay on this host: the peer is another
			// allocation's relay socket with a channel back; deliver
			// to its client directly.
			struct down_key dk = {t.saddr, t.daddr, t.sport, t.dport};
			struct down_value *dv = bpf_map_lookup_elem(&down, &dk);
			struct counters *dc = 0;
			if (dv) {
				dc = slot_of(dv->slot);
				if (dc && !(is_zero(&dv->server) && is_zero(&dc->server))) {
					t.saddr = is_zero(&dv->server) ? dc->server : dv->server;
					t.sport = dv->server_port;
					t.daddr = dv->client;
					t.dport = dv->client_port;
					t.number = dv->number;
					t.mode = MODE_RENUMBER;
				} else {
					dc = 0;
				}
			}
			int verdict = rewrite(skb, &t, v6);
			if (verdict == VERDICT_NEXT)
				return verdict;
			c->server = daddr;
			if (verdict != TC_ACT_SHOT) {
				__sync_fetch_and_add(&c->up_packets, 1);
				__sync_fetch_and_add(&c->up_bytes, n);
				if (dc) {
					__sync_fetch_and_add(&dc->down_packets, 1);
					__sync_fetch_and_add(&dc->down_bytes, n);
				}
			}
			return verdict;
		}
	}

	struct down_key dk = {saddr, daddr, udp->source, udp->dest};
	struct down_value *dv = bpf_map_lookup_elem(&down, &dk);
	if (!dv)
		return VERDICT_NEXT;
	struct counters *c = slot_of(dv->slot);
	if (!c)
		return VERDICT_NEXT;
	t.saddr = is_zero(&dv->server) ? c->server : dv->server;
	if (is_zero(&t.saddr)) // a wildcard listener the client has not sent to yet
		return VERDICT_NEXT;
	t.sport = dv->server_port;
	t.daddr = dv->client;
	t.dport = dv->client_port;
	t.number = dv->number;
	t.payload = payload;
	t.mode = MODE_PREPEND;
	int verdict = rewrite(skb, &t, v6);
	if (verdict != VERDICT_NEXT && verdict != TC_ACT_SHOT) {
		__sync_fetch_and_add(&c->down_packets, 1);
		__sync_fetch_and_add(&c->down_bytes, payload);
	}
	return verdict;
}

SEC("tc")
int turnkey_ingress(struct __sk_buff *skb)
{
	if (skb->gso_segs > 1)
		return VERDICT_NEXT;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + ETH_HLEN > end)
		return VERDICT_NEXT;
	struct eth_hdr *eth = data;
	if (skb->protocol == bpf_htons(ETH_P_IP) && eth->proto == bpf_htons(ETH_P_IP))
		return relay(skb, 0);
	if (skb->protocol == bpf_htons(ETH_P_IPV6) && eth->proto == bpf_htons(ETH_P_IPV6))
		return relay(skb, 1);
	return VERDICT_NEXT;
}

char __license[] SEC("license") = "Dual MIT/GPL";
