package tests

import (
	"path/filepath"
	"strings"
	"testing"

	"paas/internal/testenv"
)

// TestDoctor: paas doctor checks the real machine and says what to fix —
// here the containerd answers and a namespace without stacks is reported
// with its fix, and the exit status says a problem remains.
func TestDoctor(t *testing.T) {
	sock := testenv.Containerd(t)
	home := newHome(t, "operator")
	stdout, _, err := runCLI(t, home, cliOptions{}, "doctor", "--config=", "--containerd", sock,
		"--namespace", "paas-e2e-doctor-"+randomHex(4), "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0")
	for _, want := range []string{"[ok  ] containerd", "[ok  ] cni", "[ok  ] runc", "[FAIL] stacks", "fix: paas stack build"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("paas doctor output lacks %q:\n%s", want, stdout)
		}
	}
	if exitCode(err) != 1 {
		t.Errorf("paas doctor with a problem exited %d, want 1", exitCode(err))
	}
}
