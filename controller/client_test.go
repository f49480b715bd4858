package controller_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"paas/controller"
	"paas/controller/server"
)

// TestClientErrorKinds checks that each error kind survives the trip
// through the real API and client, so errors.Is works across the wire.
func TestClientErrorKinds(t *testing.T) {
	ctx := context.Background()
	ctl, err := server.Open(ctx, server.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	token, _, err := ctl.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ctl.Handler())
	defer ts.Close()
	admin, err := controller.NewClient(ts.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	cu, err := admin.CreateUser(ctx, controller.NewUser{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := controller.NewClient(ts.URL, cu.Token.Secret, nil)
	anon, _ := controller.NewClient(ts.URL, "", nil)
	if _, err := admin.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		kind error
	}{
		{"not found", func() error { _, err := admin.App(ctx, "nope"); return err }, controller.ErrNotFound},
		{"conflict", func() error { _, err := admin.CreateApp(ctx, "shop"); return err }, controller.ErrConflict},
		{"invalid", func() error { _, err := admin.CreateApp(ctx, "Bad;Name"); return err }, controller.ErrInvalid},
		{"unauthorized", func() error { _, err := anon.Apps(ctx); return err }, controller.ErrUnauthorized},
		{"forbidden", func() error { _, err := bob.Config(ctx, "shop"); return err }, controller.ErrForbidden},
	}
	for _, c := range cases {
		err := c.call()
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: error = %v, want errors.Is(err, %v)", c.name, err, c.kind)
		}
		var ce *controller.Error
		if !errors.As(err, &ce) || ce.Msg == "" {
			t.Errorf("%s: error %v carries no message", c.name, err)
		}
	}
	// Absent name: the server picks one.
	a, err := admin.CreateApp(ctx, "")
	if err != nil || controller.ValidateAppName(a.Name) != nil {
		t.Errorf("CreateApp(\"\") = %q, %v; want a server-chosen valid name", a.Name, err)
	}
}

func TestValidators(t *testing.T) {
	apps := []struct {
		in string
		ok bool
	}{
		{"shop", true}, {"a", true}, {"my-app-2", true}, {"a23456789012345678901234567890", true},
		{"", false}, {"Shop", false}, {"a;b", false}, {"$(id)", false}, {"../x", false},
		{"1app", false}, {"-app", false}, {"a234567890123456789012345678901", false}, {"app_1", false},
	}
	for _, c := range apps {
		if err := controller.ValidateAppName(c.in); (err == nil) != c.ok {
			t.Errorf("ValidateAppName(%q) = %v, want ok=%v", c.in, err, c.ok)
		}
	}
	keys := []struct {
		in string
		ok bool
	}{
		{"FOO", true}, {"_x", true}, {"a1_B", true},
		{"1A", false}, {"A-B", false}, {"A B", false}, {"", false}, {"PORT", false}, {"PAAS_APP", false}, {"A=B", false},
	}
	for _, c := range keys {
		if err := controller.ValidateConfigKey(c.in); (err == nil) != c.ok {
			t.Errorf("ValidateConfigKey(%q) = %v, want ok=%v", c.in, err, c.ok)
		}
	}
	domains := []struct {
		in, want string
		ok       bool
	}{
		{"Shop.Example.COM.", "shop.example.com", true},
		{"*.example.com", "*.example.com", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"example", "", false}, {"a..com", "", false}, {"-a.com", "", false}, {"a.com:80", "", false},
		{"a.com/x", "", false}, {"1.2.3.4", "", false}, {"*.*.com", "", false}, {"", "", false},
	}
	for _, c := range domains {
		got, err := controller.NormalizeDomain(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	for in, want := range map[string]int{"v1": 1, "12": 12, "v0": 0, "vx": 0, "v01": 0, "-1": 0, "v1.5": 0} {
		got, err := controller.ParseReleaseVersion(in)
		if got != want || (err == nil) != (want > 0) {
			t.Errorf("ParseReleaseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
