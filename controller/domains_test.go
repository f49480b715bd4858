package controller

import (
	"strings"
	"testing"
)

func TestDomainCovers(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"a.example.com", "a.example.com", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "*.example.com", true},
		{"*.b.example.com", "*.example.com", false},
		{"*.example.com", "*.b.example.com", false},
		{"a.example.com", "*.example.com", false},
		{"*.example.com", "aexample.com", false},
		{"*example.com", "a.example.com", false},
	} {
		if got := DomainCovers(c.pattern, c.name); got != c.want {
			t.Errorf("DomainCovers(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestDefaultDomainOwner(t *testing.T) {
	for _, c := range []struct{ name, owner string }{
		{"shop.apps.test", "shop"},
		{"login.shop.apps.test", "shop"},
		{"a.b.shop.apps.test", "shop"},
		{"*.shop.apps.test", "shop"},
		{"*.apps.test", ""},
		{"apps.test", ""},
		{"shop.example.com", ""},
		{"shopapps.test", ""},
	} {
		got, ok := DefaultDomainOwner(c.name, "apps.test")
		if got != c.owner || ok != (c.owner != "") {
			t.Errorf("DefaultDomainOwner(%q, apps.test) = %q, %v; want %q", c.name, got, ok, c.owner)
		}
	}
}

func TestParseAPIHosts(t *testing.T) {
	got, err := ParseAPIHosts([]string{" Paas.Example.com.:8000", "localhost", "10.0.0.1", "[::1]:80", "", "paas.example.com"})
	if want := "paas.example.com,localhost,10.0.0.1,::1"; err != nil || strings.Join(got, ",") != want {
		t.Errorf("ParseAPIHosts = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"*.example.com", "a_b.example.com", "a..b"} {
		if _, err := ParseAPIHosts([]string{bad}); err == nil {
			t.Errorf("ParseAPIHosts(%q) = nil error; want it refused", bad)
		}
	}
}
