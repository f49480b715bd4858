package controller

import (
	"net"
	"strings"
)

// Host names: who may hold which. The server's own host names (the API and
// dashboard) belong to no app; <app>.<base> and every name under it belong
// to that app; a wildcard *.example.com stands for exactly one more label
// (a.example.com, not example.com nor a.b.example.com), as in a wildcard
// certificate and in the router.

// DomainCovers tells whether pattern, a host name or a wildcard
// (*.example.com), stands for name. Both must be lower case without a
// trailing dot. A wildcard name is covered only by the same wildcard.
func DomainCovers(pattern, name string) bool {
	if pattern == name {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok || !strings.HasPrefix(suffix, ".") {
		return false
	}
	label, ok := strings.CutSuffix(name, suffix)
	return ok && label != "" && label != "*" && !strings.Contains(label, ".")
}

// CanonicalHost lower-cases a host name or Host header and drops its port,
// the brackets of an IPv6 literal and one trailing dot.
func CanonicalHost(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// ParseAPIHosts reads the server's own host names from a list of names
// (each may carry a port, which is dropped): lower-cased, without
// duplicates. Names of one label (localhost, the machine's name) and IP
// addresses are allowed; wildcards are not.
func ParseAPIHosts(names []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		h := CanonicalHost(n)
		if h == "" {
			continue
		}
		if net.ParseIP(h) == nil {
			if strings.Contains(h, "*") {
				return nil, Errorf(ErrInvalid, "invalid API host %q: give host names, not wildcards", clip(n))
			}
			for _, l := range strings.Split(h, ".") {
				if !domainLabelRE.MatchString(l) {
					return nil, Errorf(ErrInvalid, "invalid API host %q: %q is not a valid DNS label", clip(n), clip(l))
				}
			}
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// APIHostCovered returns the first of apiHosts that domain, an app's
// domain (a host name or a wildcard), stands for, and false if it stands
// for none.
func APIHostCovered(domain string, apiHosts []string) (string, bool) {
	for _, h := range apiHosts {
		if DomainCovers(domain, h) {
			return h, true
		}
	}
	return "", false
}

// DefaultDomainOwner returns the app whose default domain, <app>.<base>,
// is name or lies above it (name is <app>.<base> or under it, wildcards
// included), and false when name is not under base or is base itself or
// its wildcard.
func DefaultDomainOwner(name, base string) (string, bool) {
	rest, ok := strings.CutSuffix(name, "."+base)
	if !ok || rest == "*" {
		return "", false
	}
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" || rest == "*" {
		return "", false
	}
	return rest, true
}
