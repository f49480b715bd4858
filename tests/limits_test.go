package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBuildLimitsKeepOthersServing: with small build limits, a push whose
// Dockerfile RUN step fork-bombs and one that allocates without bound are
// each rejected with the limit's message while another app keeps
// answering every request through the router (a bounded request loop on
// loopback counts them); the branch does not move and no release is made.
// A build that prints more than the output limit is cut with a line that
// says so, kept that way, and deploys. A user's app limit, and an admin
// raising it, work from the CLI.
func TestBuildLimitsKeepOthersServing(t *testing.T) {
	r := newAppRig(t, "--build-memory", "64M", "--build-pids", "64", "--build-output-limit", "64K", "--user-app-limit", "1")
	s, admin := r.s, r.admin
	key := filepath.Join(t.TempDir(), "id_ed25519")
	sshKeygen(t, key, "-t", "ed25519")
	mustCLI(t, admin, "keys:add", key+".pub")

	newApp := func(name string, files map[string]string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
			t.Fatal(err)
		}
		mustCLIIn(t, admin, dir, "apps:create", name)
		writeFiles(t, dir, files)
		commitAll(t, dir, "first")
		return dir
	}
	httpd := "CMD httpd -f -p $PORT -h /www\n"
	steady := newApp("steady", map[string]string{
		"Dockerfile": "FROM " + busyboxImage + "\nWORKDIR /www\nCOPY index.html ./\n" + httpd,
		"index.html": "steady\n",
	})
	if out, err := gitPush(t, steady, key, "push", "paas", "main"); err != nil || !strings.Contains(out, "v1 is live") {
		t.Fatalf("push of steady: %v\n%s", err, out)
	}

	// The bounded load: at most 5000 requests in at most 4 minutes, to
	// the loopback address, until the hostile pushes are done.
	const maxRequests, maxTime = 5000, 4 * time.Minute
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, ok int
	var failures []string
	wg.Go(func() {
		deadline := time.Now().Add(maxTime)
		for sent < maxRequests && time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			code, body, err := getHost(s.url+"/", "steady.localhost")
			sent++
			if err == nil && code == 200 && body == "steady\n" {
				ok++
			} else if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	bomb := newApp("bomb", map[string]string{"Dockerfile": "FROM " + busyboxImage + "\nRUN f(){ f|f& }; f; sleep 600\n" + httpd})
	hostile := []struct {
		name, dockerfile, want string
	}{
		{"fork bomb", "", "build reached its process limit (limit 64 processes) in Dockerfile:2: RUN f(){ f|f& }; f; sleep 600"},
		{"unbounded allocation", "FROM " + busyboxImage + "\nRUN head -c 4294967296 /dev/zero | tail\n" + httpd,
			"build ran out of memory (limit 64MiB) in Dockerfile:2: RUN head -c 4294967296 /dev/zero | tail"},
	}
	for _, h := range hostile {
		if h.dockerfile != "" {
			writeFiles(t, bomb, map[string]string{"Dockerfile": h.dockerfile})
			commitAll(t, bomb, h.name)
		}
		start := time.Now()
		out, err := gitPush(t, bomb, key, "push", "paas", "main")
		took := time.Since(start)
		t.Logf("push of a %s took %v", h.name, took.Round(10*time.Millisecond))
		if err == nil || !strings.Contains(out, h.want) || !strings.Contains(out, "[remote rejected]") {
			t.Errorf("push of a %s: err %v, want it rejected with %q; output:\n%s", h.name, err, h.want, out)
		}
		if took > 2*time.Minute {
			t.Errorf("push of a %s took %v: the limit did not stop it", h.name, took)
		}
		if remote, _ := gitPush(t, bomb, key, "ls-remote", "paas", "refs/heads/main"); strings.TrimSpace(remote) != "" {
			t.Errorf("after a rejected %s push, the branch is %q, want none", h.name, remote)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("steady during the hostile builds: %d of %d requests answered 200", ok, sent)
	if sent < 50 || ok != sent {
		t.Errorf("steady answered %d of %d requests during the hostile builds (want all, and at least 50); failures: %v", ok, sent, failures)
	}
	if rel := mustCLI(t, admin, "releases", "-a", "bomb"); strings.Contains(rel, "v1") {
		t.Errorf("releases of bomb after rejected pushes:\n%s", rel)
	}
	if rel := mustCLI(t, admin, "releases", "-a", "steady"); !strings.Contains(rel, "v1") || strings.Contains(rel, "v2") {
		t.Errorf("releases of steady:\n%s", rel)
	}

	// Output past the limit: cut, said so to the pusher, kept cut; the
	// build itself goes on and deploys.
	writeFiles(t, bomb, map[string]string{"Dockerfile": "FROM " + busyboxImage + "\nRUN yes paas-build-output | head -c 1048576\nWORKDIR /www\nRUN echo calm > index.html\n" + httpd})
	commitAll(t, bomb, "loud")
	out, err := gitPush(t, bomb, key, "push", "paas", "main")
	marker := "-----> Build output truncated: it passed this server's limit of 64KiB; the rest is dropped (the build goes on)"
	if err != nil || !strings.Contains(out, marker) || !strings.Contains(out, "v1 is live") {
		t.Errorf("push of a loud build: %v, want the truncation line and v1 live; output (%d bytes) ends:\n%s", err, len(out), out[max(0, len(out)-2000):])
	}
	if n := strings.Count(out, "paas-build-output"); n > 64<<10/len("paas-build-output\n")+1 {
		t.Errorf("the pusher got %d lines of the loud step, more than 64 KiB of them", n)
	}
	builds := decodeJSON[[]struct{ ID int64 }](t, mustCLI(t, admin, "builds", "-a", "bomb", "--json"))
	if len(builds) != 3 {
		t.Fatalf("builds of bomb = %d, want 3", len(builds))
	}
	log := getWithToken(t, fmt.Sprintf("%s/v1/apps/bomb/builds/%d/log", s.url, builds[0].ID), r.token)
	if !strings.Contains(log, marker) || len(log) > 64<<10+4096 {
		t.Errorf("stored log of the loud build: %d bytes, truncation line %t; want at most 64 KiB and the line", len(log), strings.Contains(log, marker))
	}
	if code, body, _ := getHost(s.url+"/", "bomb.localhost"); code != 200 || body != "calm\n" {
		t.Errorf("bomb after the loud build answers %d %q", code, body)
	}

	// A user may own one app; an admin raises the limit.
	bob, _ := createUser(t, s, admin, "bob")
	mustCLI(t, bob, "apps:create", "bobs-first")
	wantCLIError(t, bob, "you own 1 apps, the most you may (your limit is 1): destroy one, or ask an admin to raise your limit", "apps:create", "bobs-second")
	wantCLIError(t, bob, "only an admin may do this", "users:limits", "bob", "--apps", "5")
	if out := mustCLI(t, admin, "users:limits", "bob", "--apps", "2"); out != "=== bob\nApps owned:  1\nApp limit:   2\n" {
		t.Errorf("users:limits bob --apps 2 printed %q", out)
	}
	mustCLI(t, bob, "apps:create", "bobs-second")
}

// getWithToken GETs url with an API token and returns the body of a 200.
func getWithToken(t *testing.T, url, token string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %v: %s", url, resp.StatusCode, err, b)
	}
	return string(b)
}
