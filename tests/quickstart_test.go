package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// quickstartApp is the README quickstart's app: its Dockerfile and app.py,
// as the README shows them.
var quickstartApp = map[string]string{
	"Dockerfile": `FROM paas/stack-build
WORKDIR /app
COPY app.py .
CMD ["python3", "app.py"]
`,
	"app.py": `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        greeting = os.environ.get("GREETING", "Hello")
        body = f"{greeting} from {os.environ['PAAS_PROCESS']} of {os.environ['PAAS_RELEASE']}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("listening on", os.environ["PORT"], flush=True)
HTTPServer(("", int(os.environ["PORT"])), Hello).serve_forever()
`,
}

// TestQuickstart follows the README's quickstart on one app, command by
// command, with the CLI, real git over OpenSSH and HTTP through the
// router: push, scale up, config:set seen in the response, releases,
// rollback to v1 (its body and its config), a second push of a one-line
// change, run, a custom domain, scale down, logs with the app's, the
// router's, the scheduler's and the build's lines, and apps:destroy
// taking the app's containers, routes and repository with it.
func TestQuickstart(t *testing.T) {
	r := newPushRig(t)
	admin := r.admin

	// paas keys:add with no argument takes ~/.ssh/id_ed25519.pub.
	if err := os.MkdirAll(filepath.Join(admin, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(admin, ".ssh", "id_ed25519")
	sshKeygen(t, home, "-t", "ed25519", "-C", "dev@laptop")
	if out := mustCLI(t, admin, "keys:add"); !strings.Contains(out, "id_ed25519.pub") {
		t.Errorf("paas keys:add:\n%s", out)
	}
	r.key = home

	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	out := mustCLIIn(t, admin, dir, "apps:create", "shop")
	for _, want := range []string{"Created shop", "http://shop.localhost:", "Git remote paas added"} {
		if !strings.Contains(out, want) {
			t.Errorf("paas apps:create shop: no %q in\n%s", want, out)
		}
	}
	writeFiles(t, dir, quickstartApp)
	commitAll(t, dir, "hello")
	p, err := r.timedPush(t, dir)
	if err != nil || !strings.Contains(p.output, "v1 is live") || !strings.Contains(p.output, "http://shop.localhost:") {
		t.Fatalf("git push paas main: %v\n%s", err, p.output)
	}
	get := func(host string) string {
		t.Helper()
		code, body, err := getHost(r.s.url+"/", host)
		if err != nil || code != 200 {
			t.Fatalf("GET %s = %d %q, %v", host, code, body, err)
		}
		return body
	}
	if body := get("shop.localhost"); body != "Hello from web.1 of v1\n" {
		t.Errorf("curl http://shop.localhost = %q", body)
	}

	mustCLIIn(t, admin, dir, "scale", "web=3")
	if out := mustCLIIn(t, admin, dir, "config:set", "GREETING=Bonjour"); !strings.Contains(out, "done, v2") {
		t.Errorf("paas config:set GREETING=Bonjour:\n%s", out)
	}
	seen := map[string]bool{}
	waitUntil(t, "three web instances of v2 answering Bonjour", 60*time.Second, func() (bool, string) {
		body := get("shop.localhost")
		if m := regexp.MustCompile(`^Bonjour from (web\.[123]) of v2\n$`).FindStringSubmatch(body); m != nil {
			seen[m[1]] = true
		}
		return len(seen) == 3, body
	})

	rels := mustCLIIn(t, admin, dir, "releases")
	if !regexp.MustCompile(`(?s)v2\s+succeeded\s+Set GREETING.*v1\s+succeeded\s+Deploy [0-9a-f]{7}`).MatchString(rels) {
		t.Errorf("paas releases:\n%s", rels)
	}
	if out := mustCLIIn(t, admin, dir, "rollback", "v1"); !strings.Contains(out, "done, v3") {
		t.Errorf("paas rollback v1:\n%s", out)
	}
	// v1's config: no GREETING.
	waitUntil(t, "v3 (v1's image and config) serving", 60*time.Second, func() (bool, string) {
		body := get("shop.localhost")
		return regexp.MustCompile(`^Hello from web\.[123] of v3\n$`).MatchString(body), body
	})
	if out := mustCLIIn(t, admin, dir, "config"); strings.Contains(out, "GREETING") {
		t.Errorf("after the rollback to v1, paas config still has GREETING:\n%s", out)
	}

	// A one-line change, pushed.
	writeFiles(t, dir, map[string]string{"app.py": strings.Replace(quickstartApp["app.py"], `"Hello"`, `"Howdy"`, 1)})
	commitAll(t, dir, "howdy")
	start := time.Now()
	p, err = r.timedPush(t, dir)
	if err != nil || !strings.Contains(p.output, "v4 is live") {
		t.Fatalf("second git push: %v\n%s", err, p.output)
	}
	t.Logf("one-line change to a Dockerfile app: %s; served %v after the push started", p, r.servedAfter(t, "shop", "Howdy from", start).Round(10*time.Millisecond))

	if out := mustCLIIn(t, admin, dir, "run", "--", "python3", "-c", `import os; print(os.environ["PAAS_PROCESS"])`); strings.TrimSpace(out) != "run.1" {
		t.Errorf("paas run: %q, want run.1", out)
	}
	if out := mustCLIIn(t, admin, dir, "domains:add", "shop.example.com"); !strings.Contains(out, "Added shop.example.com to shop") {
		t.Errorf("paas domains:add:\n%s", out)
	}
	waitUntil(t, "the custom domain routed", 20*time.Second, func() (bool, string) {
		code, body, err := getHost(r.s.url+"/", "shop.example.com")
		return err == nil && code == 200 && strings.HasPrefix(body, "Howdy from web."), body
	})

	mustCLIIn(t, admin, dir, "scale", "web=1")
	waitUntil(t, "one web instance left", 60*time.Second, func() (bool, string) {
		out, _, _ := cli(t, admin, "ps", "-a", "shop")
		return strings.Count(out, "web.") == 1, out
	})

	waitUntil(t, "app, router, scheduler and build lines in paas logs", 20*time.Second, func() (bool, string) {
		out, _, _ := cli(t, admin, "logs", "-a", "shop", "-n", "500")
		ok := true
		for _, want := range []string{"app[web.1]: listening on", "paas[router]: ", "paas[scheduler]: v4 is live", "paas[build]: build 2 succeeded", "app[run.1]: run.1"} {
			ok = ok && strings.Contains(out, want)
		}
		return ok, out
	})

	// apps:destroy takes the containers, the routes and the repository.
	r.destroy(t, "shop")
	if code, _, err := getHost(r.s.url+"/", "shop.localhost"); err != nil || code != 404 {
		t.Errorf("GET shop.localhost after apps:destroy = %d, %v; want 404", code, err)
	}
	if _, err := os.Stat(filepath.Join(r.s.dataDir, "repos", "shop.git")); !os.IsNotExist(err) {
		t.Errorf("the repository of shop is still there after apps:destroy: %v", err)
	}
	if p, err := r.timedPush(t, dir); err == nil {
		t.Errorf("git push to a destroyed app succeeded:\n%s", p.output)
	}
}
