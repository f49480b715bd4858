package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitPush runs git in dir with an SSH command that uses key, and returns
// its combined output.
func gitPush(t *testing.T, dir, key string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t.TempDir()),
		"GIT_CEILING_DIRECTORIES="+filepath.Dir(dir),
		"GIT_SSH_COMMAND=ssh -i "+key+" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func commitAll(t *testing.T, dir, msg string) {
	t.Helper()
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", msg}} {
		if _, err := runGit(t, dir, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGitPushDeploys is the product: git push over SSH builds a
// multi-stage Dockerfile on containerd, releases it and serves it through
// the router; a second push rolls out the change; a push whose build
// fails is rejected and the running release keeps serving.
func TestGitPushDeploys(t *testing.T) {
	r := newAppRig(t)
	s, c, admin := r.s, r.c, r.admin
	key := filepath.Join(t.TempDir(), "id_ed25519")
	sshKeygen(t, key, "-t", "ed25519", "-C", "dev@laptop")
	mustCLI(t, admin, "keys:add", key+".pub")

	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, dir, "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	mustCLIIn(t, admin, dir, "apps:create", "shop")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", `FROM `+busyboxImage+` AS assets
RUN mkdir -p /out && echo "built at stage one" > /out/stage.txt
FROM `+busyboxImage+`
WORKDIR /www
COPY --from=assets /out/stage.txt ./
COPY index.html ./
ENV GREETING=hello
EXPOSE 5000
CMD httpd -f -p $PORT -h /www
`)
	write("index.html", "version one\n")
	commitAll(t, dir, "first")

	t0 := time.Now()
	out, err := gitPush(t, dir, key, "push", "paas", "main")
	if err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	t.Logf("first push took %v", time.Since(t0))
	for _, want := range []string{"remote: -----> Building shop", "remote: -----> v1 is live", "http://shop.localhost:"} {
		if !strings.Contains(out, want) {
			t.Errorf("git push output lacks %q:\n%s", want, out)
		}
	}
	get := func() string {
		_, body, _ := getHost(s.url+"/", "shop.localhost")
		return body
	}
	if body := get(); body != "version one\n" {
		t.Errorf("after the first push, the app answers %q", body)
	}
	if _, body, _ := getHost(s.url+"/stage.txt", "shop.localhost"); body != "built at stage one\n" {
		t.Errorf("file from the first stage = %q", body)
	}

	// paas run with a terminal: over SSH, as git push, with the same key.
	stdout, stderr, err := runCLI(t, admin, cliOptions{dir: dir, env: []string{
		"PAAS_SSH_COMMAND=ssh -i " + key + " -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
	}}, "run", "--tty", "--", `sh -c 'tty; echo "i am $PAAS_PROCESS"; exit 3'`)
	if code := exitCode(err); code != 3 || !strings.Contains(stdout, "/dev/pts/") || !strings.Contains(stdout, "i am run.") {
		t.Errorf("paas run --tty = exit %d, stdout %q, stderr %q; want exit 3, a pty and the process name", code, stdout, stderr)
	}

	// A one-line change: a second push rolls it out.
	write("index.html", "version two\n")
	commitAll(t, dir, "second")
	t0 = time.Now()
	out, err = gitPush(t, dir, key, "push", "paas", "main")
	if err != nil || !strings.Contains(out, "v2 is live") {
		t.Fatalf("second git push: %v\n%s", err, out)
	}
	total := time.Since(t0)
	var split []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "-----> Built") || strings.Contains(l, "is live (rollout") {
			split = append(split, strings.TrimSpace(strings.TrimPrefix(l, "remote:")))
		}
	}
	t.Logf("second push (one file changed) took %v: %s", total, strings.Join(split, "; "))
	if body := get(); body != "version two\n" {
		t.Errorf("after the second push, the app answers %q", body)
	}
	head, _ := runGit(t, dir, "rev-parse", "HEAD")

	// A push whose build fails is rejected; v2 keeps serving; the ref stays.
	write("Dockerfile", "FROM "+busyboxImage+"\nRUN echo about to fail && exit 3\n")
	commitAll(t, dir, "broken")
	out, err = gitPush(t, dir, key, "push", "paas", "main")
	if err == nil || !strings.Contains(out, "deploy failed") {
		t.Errorf("push of a failing build: err %v, output:\n%s", err, out)
	}
	if body := get(); body != "version two\n" {
		t.Errorf("after a failed push, the app answers %q, want v2's page", body)
	}
	remote, _ := gitPush(t, dir, key, "ls-remote", "paas", "refs/heads/main")
	if !strings.HasPrefix(remote, head) {
		t.Errorf("git ls-remote = %q, want the last good commit %s", remote, head)
	}
	rel := mustCLI(t, admin, "releases", "-a", "shop")
	if !strings.Contains(rel, "v2") || strings.Contains(rel, "v3") {
		t.Errorf("releases after a failed build:\n%s", rel)
	}

	// A Procfile release: command runs before the release; if it fails,
	// nothing is released.
	if _, err := runGit(t, dir, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "revert", "--no-edit", "HEAD"); err != nil {
		t.Fatal(err)
	}
	write("Procfile", "web: httpd -f -p $PORT -h /www\nrelease: echo migrating the database; exit 4\n")
	commitAll(t, dir, "release phase that fails")
	out, err = gitPush(t, dir, key, "push", "paas", "main")
	if err == nil || !strings.Contains(out, "migrating the database") || !strings.Contains(out, "exited with code 4") {
		t.Errorf("push with a failing release command: err %v, output:\n%s", err, out)
	}
	if body := get(); body != "version two\n" {
		t.Errorf("after a failed release command, the app answers %q, want v2's page", body)
	}
	write("Procfile", "web: httpd -f -p $PORT -h /www\nrelease: echo migrated\n")
	commitAll(t, dir, "release phase that works")
	out, err = gitPush(t, dir, key, "push", "paas", "main")
	if err != nil || !strings.Contains(out, "       migrated") || !strings.Contains(out, "v3 is live") {
		t.Errorf("push with a release command: err %v, output:\n%s", err, out)
	}
	imgs, err := c.ImageService().List(context.Background(), `name~="^paas/shop:"`)
	if err != nil || len(imgs) != 3 {
		t.Errorf("images of shop after three good builds = %d, %v; want 3 (all within the retention)", len(imgs), err)
	}
	r.destroy(t, "shop")
	if imgs, err := c.ImageService().List(context.Background(), `name~="^paas/shop:"`); err != nil || len(imgs) != 0 {
		t.Errorf("images of shop after apps:destroy = %d, %v; want none", len(imgs), err)
	}
}
