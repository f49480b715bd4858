package buildpacks_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestProcfileParser runs the procfile buildpack's parser on each
// testdata/procfile/*.Procfile with every awk the host has (the stacks have
// mawk, the test image busybox awk) and compares what it prints and its
// status with the .golden file beside it.
func TestProcfileParser(t *testing.T) {
	var awks [][]string
	for _, a := range [][]string{{"mawk"}, {"gawk"}, {"original-awk"}, {"busybox", "awk"}} {
		if _, err := exec.LookPath(a[0]); err == nil {
			awks = append(awks, a)
		}
	}
	if len(awks) == 0 {
		t.Skip("no awk on this machine")
	}
	inputs, err := filepath.Glob(filepath.Join("testdata", "procfile", "*.Procfile"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no test Procfiles: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			golden := strings.TrimSuffix(in, ".Procfile") + ".golden"
			for i, awk := range awks {
				args := append(append([]string(nil), awk[1:]...), "-f", filepath.Join("procfile", "lib", "procfile.awk"), in)
				out, err := exec.Command(awk[0], args...).Output()
				status := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprintf("%sstatus %d\n", out, status)
				if *update && i == 0 {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(want, []byte(got)) {
					t.Errorf("%s on %s printed:\n%s\nwant:\n%s", strings.Join(awk, " "), in, got, want)
				}
			}
		})
	}
}
