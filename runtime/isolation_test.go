package runtime_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"paas/internal/testenv"
	"paas/runtime"
)

// TestInstancesIsolated: from a real container of app shop, busybox's
// nc reaches the other instance of shop and "the internet" (a namespace
// standing in for it), and is refused at once by another app's instance,
// a paas port of the host on the bridge's gateway and 169.254.169.254;
// the host (the router) reaches every instance. On the old code nc
// connected everywhere.
func TestInstancesIsolated(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	internet := testenv.Outside(t, fmt.Sprintf("ptstj%d", os.Getpid()%100000), 1, nil)
	serve := `mkdir -p /tmp/w && echo "$PAAS_APP $PAAS_PROCESS" > /tmp/w/index.html && exec httpd -f -p $PORT -h /tmp/w`
	start := func(app string, number int) runtime.Instance {
		t.Helper()
		inst, err := r.Start(ctx, runtime.Spec{App: app, Release: 1, Process: "web", Number: number, Image: testImage, Command: serve, Port: 5000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop(ctx, inst.ID) })
		return inst
	}
	shop1, shop2, blog1 := start("shop", 1), start("shop", 2), start("blog", 1)
	for _, in := range []runtime.Instance{shop1, shop2, blog1} {
		if got, want := waitHTTP(t, "http://"+in.Address()+"/"), in.App+" "+in.Name()+"\n"; got != want {
			t.Errorf("the host to %s: %q, want %q", in.Address(), got, want)
		}
	}
	// A paas port of the host, on the gateway.
	ln, err := net.Listen("tcp", "10.232.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, apiPort, _ := net.SplitHostPort(ln.Addr().String())
	ihost, iport, _ := net.SplitHostPort(internet)
	targets := [][2]string{
		{shop2.IP, "5000"}, {blog1.IP, "5000"}, {"10.232.0.1", apiPort}, {"169.254.169.254", "80"}, {ihost, iport},
	}
	var script strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&script, `if nc -w 3 %[1]s %[2]s </dev/null 2>/tmp/err; then echo "%[1]s:%[2]s connected"; else echo "%[1]s:%[2]s $(cat /tmp/err)"; fi; `, tg[0], tg[1])
	}
	probe, err := r.Start(ctx, runtime.Spec{App: "shop", Release: 1, Process: "run", Number: 1, Image: testImage, Command: script.String(), OneOff: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx, probe.ID)
	var lines []string
	deadline := time.Now().Add(30 * time.Second)
	for len(lines) < len(targets) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		lines, _ = r.Logs(probe.ID, 100)
	}
	want := []string{
		shop2.IP + ":5000 connected",
		blog1.IP + ":5000 nc: can't connect to remote host (" + blog1.IP + "): Connection refused",
		"10.232.0.1:" + apiPort + " nc: can't connect to remote host (10.232.0.1): Connection refused",
		"169.254.169.254:80 nc: can't connect to remote host (169.254.169.254): Connection refused",
		internet + " connected",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("from an instance of shop:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
