// Package router is paas's HTTP edge: it maps each app's domains to its
// healthy instances with traefik's rule muxer and weighted round robin,
// following the controller's versioned routing table and swapping its
// handler atomically on every change.
//
// This root package will hold the router's contract; traefik types stay
// under router/internal. Not built yet: see the Router issue.
package router
