package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPushStaticSiteWithBuildpacks: a push with no Dockerfile is built by
// the buildpacks on the Debian stacks (made once per machine by
// tests/run.sh's cache) and served through the router.
func TestPushStaticSiteWithBuildpacks(t *testing.T) {
	cache := os.Getenv("PAAS_STACK_CACHE")
	if cache == "" || os.Getenv("PAAS_TEST_STACKS") == "0" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PAAS_STACK_CACHE is not set: run the tests with tests/run.sh")
		}
		t.Skip("no stack cache: run tests/run.sh")
	}
	r := newAppRig(t)
	// The stacks into the server's namespace: from the cache, no debootstrap.
	if _, stderr, err := runCLI(t, r.admin, cliOptions{timeout: 5 * time.Minute}, "stack", "build", "--containerd", r.s.containerd, "--namespace", r.ns, "--stack-cache", cache); err != nil {
		t.Fatalf("paas stack build: %v\n%s", err, stderr)
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	sshKeygen(t, key, "-t", "ed25519")
	mustCLI(t, r.admin, "keys:add", key+".pub")
	dir := filepath.Join(t.TempDir(), "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	mustCLIIn(t, r.admin, dir, "apps:create", "site")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>static and proud</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "site")
	t0 := time.Now()
	out, err := gitPush(t, dir, key, "push", "paas", "main")
	if err != nil || !strings.Contains(out, "v1 is live") {
		t.Fatalf("git push of a static site: %v\n%s", err, out)
	}
	t.Logf("static site pushed and live in %v", time.Since(t0))
	if code, body, err := getHost(r.s.url+"/", "site.localhost"); err != nil || code != 200 || !strings.Contains(body, "static and proud") {
		t.Errorf("GET site.localhost = %d %q, %v", code, body, err)
	}
	r.destroy(t, "site")
}
