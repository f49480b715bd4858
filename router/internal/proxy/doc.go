// Package proxy builds the http.Handler that serves one routing table, out
// of traefik's parts: requestdecorator canonicalises the Host, exact host
// names are looked up in a map, wildcard domains (*.example.com) go through
// traefik's rule muxer (HostRegexp rules, most specific first), and each
// app is a traefik weighted-round-robin balancer over its endpoints, each
// endpoint served by one shared httputil.ReverseProxy and transport, so
// that keep-alive pools to the backends outlive table swaps. The transport
// sends GET and HEAD requests itself on the request's goroutine
// (h1Transport: about a third less CPU per request than http.Transport
// on two cores) and everything else — bodies, WebSocket upgrades —
// through http.Transport.
//
// ConnServer (fast.go) is the fast path for plain HTTP/1.1 connections:
// it parses request heads itself, looks the host up in the same Table,
// picks the endpoint with the same balancer and relays to the same pool of
// backend connections, and hands any request it does not take to net/http
// before anything of it was sent on. rawIO (rawio.go) lets it write and
// then wait for the answer without a read that is bound to find nothing.
//
// A Table is immutable once built; the router swaps whole tables. The only
// state that changes inside a Table is the passive health of an endpoint:
// one that refuses a connection is left out of its balancer for a cooldown
// while the request is retried once on another endpoint.
//
// Traefik types never leave this package.
package proxy
