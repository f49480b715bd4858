package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

func TestSSHRunArgs(t *testing.T) {
	ssh := []string{"ssh"}
	tests := []struct {
		name    string
		url     string
		force   bool
		want    []string
		wantErr string // part of the error, "" for none
	}{
		{name: "plain", url: "ssh://git@paas.example.com:2222/shop.git",
			want: []string{"ssh", "-t", "-o", "LogLevel=ERROR", "-p", "2222", "--", "git@paas.example.com", "run", "shop", "--", "ls -l"}},
		{name: "no user, no port, forced", url: "ssh://paas.example.com/shop.git", force: true,
			want: []string{"ssh", "-tt", "-o", "LogLevel=ERROR", "--", "git@paas.example.com", "run", "shop", "--", "ls -l"}},
		{name: "IPv4", url: "ssh://deploy@10.0.0.5:22/shop.git",
			want: []string{"ssh", "-t", "-o", "LogLevel=ERROR", "-p", "22", "--", "deploy@10.0.0.5", "run", "shop", "--", "ls -l"}},
		{name: "IPv6", url: "ssh://git@[::1]:2222/shop.git",
			want: []string{"ssh", "-t", "-o", "LogLevel=ERROR", "-p", "2222", "--", "git@::1", "run", "shop", "--", "ls -l"}},
		{name: "option as user", url: "ssh://-oProxyCommand=touch%20%2Ftmp%2Fpwned@paas.example.com/shop.git", wantErr: `invalid user name "-oProxyCommand=touch /tmp/pwned"`},
		{name: "option as user, plain", url: "ssh://-oProxyCommand=id@paas.example.com/shop.git", wantErr: "invalid user name"},
		{name: "space in user", url: "ssh://git%20-oX@paas.example.com/shop.git", wantErr: "invalid user name"},
		{name: "password", url: "ssh://git:secret@paas.example.com/shop.git", wantErr: "invalid user name"},
		{name: "empty user", url: "ssh://@paas.example.com/shop.git", wantErr: "invalid user name"},
		{name: "option as host", url: "ssh://git@-oProxyCommand=id/shop.git", wantErr: "invalid host name"},
		{name: "host starting with a hyphen", url: "ssh://git@-paas.example.com/shop.git", wantErr: "invalid host name"},
		{name: "percent in host", url: "ssh://git@paas%25h.example.com/shop.git", wantErr: `invalid host name "paas%h.example.com"`},
		{name: "underscore host", url: "ssh://git@paas_1.example.com/shop.git", wantErr: "invalid host name"},
		{name: "port zero", url: "ssh://git@paas.example.com:0/shop.git", wantErr: "invalid port"},
		{name: "port too big", url: "ssh://git@paas.example.com:70000/shop.git", wantErr: "invalid port"},
		{name: "not ssh", url: "https://paas.example.com/shop.git", wantErr: "no usable SSH address"},
		{name: "scp-like", url: "git@paas.example.com:shop.git", wantErr: "no usable SSH address"},
		{name: "empty", url: "", wantErr: "no usable SSH address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sshRunArgs(ssh, tt.url, "shop", "ls -l", tt.force)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("sshRunArgs(%q) = %q, %v; want an error with %q", tt.url, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("sshRunArgs(%q): %v", tt.url, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sshRunArgs(%q) (-want +got):\n%s", tt.url, diff)
			}
		})
	}
	// The configured command keeps its own words and is not changed.
	custom := []string{"/usr/bin/ssh", "-i", "key"}
	got, err := sshRunArgs(custom[:2], "ssh://git@h/shop.git", "shop", "sh", false)
	if err != nil || got[0] != "/usr/bin/ssh" || got[1] != "-i" || got[2] != "-t" || custom[2] != "key" {
		t.Errorf("sshRunArgs(custom) = %q, %v; custom = %q", got, err, custom)
	}
}

// TestRunRefusesHostileGitURL runs paas run --tty against a server whose
// git URL's user is an ssh option: the CLI must refuse with a clear error
// and never start ssh (here a script that records its arguments).
func TestRunRefusesHostileGitURL(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "ssh-started")
	fakeSSH := filepath.Join(dir, "ssh")
	if err := os.WriteFile(fakeSSH, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+started+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/shop" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(controller.AppInfo{App: controller.App{Name: "shop",
			GitURL: "ssh://-oProxyCommand=touch%20%2Ftmp%2Fpwned@paas.example.com:2222/shop.git"}})
	}))
	defer srv.Close()
	env := map[string]string{"HOME": dir, "PAAS_URL": srv.URL, "PAAS_TOKEN": "t", "PAAS_SSH_COMMAND": fakeSSH}
	res := runCLI(t, env, "", "run", "--app", "shop", "--tty", "--", "sh")
	if b, err := os.ReadFile(started); err == nil {
		t.Fatalf("ssh was started with the server's git URL user as an option; its arguments:\n%s", b)
	}
	if res.Code == 0 || !strings.Contains(res.Stderr, `invalid user name "-oProxyCommand=touch /tmp/pwned": refusing to run ssh`) {
		t.Errorf("paas run --tty = exit %d, stderr %q; want a failure naming the invalid user", res.Code, res.Stderr)
	}
}
