package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

func TestParseConfigVars(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []configVar
		wantErr bool
	}{
		{name: "one", args: []string{"FOO=bar"}, want: []configVar{{"FOO", "bar"}}},
		{name: "order kept", args: []string{"B=2", "A=1"}, want: []configVar{{"B", "2"}, {"A", "1"}}},
		{name: "value with =", args: []string{"DATABASE_URL=postgres://h/db?sslmode=off&a=b"}, want: []configVar{{"DATABASE_URL", "postgres://h/db?sslmode=off&a=b"}}},
		{name: "empty value", args: []string{"EMPTY="}, want: []configVar{{"EMPTY", ""}}},
		{name: "value with spaces", args: []string{"MSG=hello world"}, want: []configVar{{"MSG", "hello world"}}},
		{name: "no =", args: []string{"FOO"}, wantErr: true},
		{name: "empty key", args: []string{"=bar"}, wantErr: true},
		{name: "key starts with digit", args: []string{"1FOO=bar"}, wantErr: true},
		{name: "key with dash", args: []string{"FOO-BAR=1"}, wantErr: true},
		{name: "reserved PORT", args: []string{"PORT=80"}, wantErr: true},
		{name: "reserved prefix", args: []string{"PAAS_APP=x"}, wantErr: true},
		{name: "NUL in value", args: []string{"FOO=a\x00b"}, wantErr: true},
		{name: "twice", args: []string{"FOO=1", "FOO=2"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfigVars(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseConfigVars(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, controller.ErrInvalid) {
					t.Errorf("parseConfigVars(%q) error = %v, want one of kind ErrInvalid", tt.args, err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseConfigVars(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseScale(t *testing.T) {
	n := func(i int) *int { return &i }
	tests := []struct {
		name    string
		args    []string
		bareOK  bool
		want    []controller.ProcessUpdate
		wantErr bool
	}{
		{name: "web=4", args: []string{"web=4"}, want: []controller.ProcessUpdate{{Type: "web", Quantity: n(4)}}},
		{name: "worker=0", args: []string{"worker=0"}, want: []controller.ProcessUpdate{{Type: "worker", Quantity: n(0)}}},
		{name: "two", args: []string{"web=2", "clock_1=1"}, want: []controller.ProcessUpdate{{Type: "web", Quantity: n(2)}, {Type: "clock_1", Quantity: n(1)}}},
		{name: "bare with limits", args: []string{"web"}, bareOK: true, want: []controller.ProcessUpdate{{Type: "web"}}},
		{name: "bare", args: []string{"web"}, wantErr: true},
		{name: "negative", args: []string{"web=-1"}, wantErr: true},
		{name: "upper case type", args: []string{"Web=1"}, wantErr: true},
		{name: "not a number", args: []string{"web=x"}, wantErr: true},
		{name: "empty quantity", args: []string{"web="}, wantErr: true},
		{name: "plus", args: []string{"web=+1"}, wantErr: true},
		{name: "empty type", args: []string{"=1"}, wantErr: true},
		{name: "twice", args: []string{"web=1", "web=2"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScale(tt.args, tt.bareOK)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseScale(%q, %v) error = %v, want error %v", tt.args, tt.bareOK, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseScale(%q, %v) (-want +got):\n%s", tt.args, tt.bareOK, diff)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "512M", want: 512 << 20},
		{in: "512m", want: 512 << 20},
		{in: "512MB", want: 512 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: "64K", want: 64 << 10},
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "", wantErr: true},
		{in: "M", wantErr: true},
		{in: "-1M", wantErr: true},
		{in: "1T", wantErr: true},
		{in: "1e3M", wantErr: true},
		{in: "Inf", wantErr: true},
		{in: "0x10M", wantErr: true},
		{in: "1..5G", wantErr: true},
		{in: "0.1", wantErr: true}, // rounds to no bytes at all
		{in: "99999999999G", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMemory(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMemory(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseMemory(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{in: "0.5", want: 500},
		{in: ".25", want: 250},
		{in: "2", want: 2000},
		{in: "0.57", want: 570},
		{in: "1.001", want: 1001},
		{in: "500m", want: 500},
		{in: "0", want: 0},
		{in: "", wantErr: true},
		{in: "0.0005", wantErr: true},
		{in: "1.5m", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1c", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "1e3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseCPU(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCPU(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseCPU(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// What the tables show, paas scale must read back the same.
func TestFormatParseRoundTrip(t *testing.T) {
	for _, b := range []int64{1, 1000, 64 << 10, 512 << 20, 3 << 29, 2 << 30} {
		s := formatMemory(b)
		if got, err := parseMemory(s); err != nil || got != b {
			t.Errorf("parseMemory(formatMemory(%d) = %q) = %d, %v, want %d", b, s, got, err, b)
		}
	}
	for _, m := range []int{1, 250, 500, 1000, 1500, 4000} {
		s := formatCPU(m)
		if got, err := parseCPU(s); err != nil || got != m {
			t.Errorf("parseCPU(formatCPU(%d) = %q) = %d, %v, want %d", m, s, got, err, m)
		}
	}
}

func TestParseProcessTypes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr bool
	}{
		{name: "none", args: nil, want: nil},
		{name: "two", args: []string{"web=bin/server --port=$PORT", "worker=bin/work"}, want: map[string]string{"web": "bin/server --port=$PORT", "worker": "bin/work"}},
		{name: "no command", args: []string{"web="}, wantErr: true},
		{name: "no =", args: []string{"web"}, wantErr: true},
		{name: "bad type", args: []string{"Web=x"}, wantErr: true},
		{name: "twice", args: []string{"web=a", "web=b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcessTypes(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcessTypes(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseProcessTypes(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestMatchKey(t *testing.T) {
	keys := []controller.Key{
		{ID: 1, Fingerprint: "SHA256:aaa", Comment: "laptop", CreatedAt: time.Unix(0, 0)},
		{ID: 2, Fingerprint: "SHA256:bbb", Comment: "ci"},
		{ID: 3, Fingerprint: "SHA256:ccc", Comment: "ci"},
		{ID: 4, Fingerprint: "SHA256:ddd", Comment: "1"},
		{ID: 5, Fingerprint: "SHA256:eee"},
	}
	tests := []struct {
		arg     string
		wantID  int64
		wantErr error
	}{
		{arg: "2", wantID: 2},
		{arg: "SHA256:aaa", wantID: 1},
		{arg: "aaa", wantID: 1},
		{arg: "laptop", wantID: 1},
		{arg: "ci", wantErr: controller.ErrInvalid},
		{arg: "1", wantErr: controller.ErrInvalid}, // ID 1 and the comment of key 4
		{arg: "9", wantErr: controller.ErrNotFound},
		{arg: "", wantErr: controller.ErrNotFound}, // not the keys without a comment
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := matchKey(keys, tt.arg)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("matchKey(%q) error = %v, want %v", tt.arg, err, tt.wantErr)
			}
			if got.ID != tt.wantID {
				t.Errorf("matchKey(%q) = key %d, want key %d", tt.arg, got.ID, tt.wantID)
			}
		})
	}
}

func TestAndList(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{in: nil, want: ""},
		{in: []string{"FOO"}, want: "FOO"},
		{in: []string{"FOO", "BAR"}, want: "FOO and BAR"},
		{in: []string{"FOO", "BAR", "BAZ"}, want: "FOO, BAR and BAZ"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, ","), func(t *testing.T) {
			if got := andList(tt.in); got != tt.want {
				t.Errorf("andList(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"echo $HOME | wc -c"}, "echo $HOME | wc -c"},
		{[]string{"python3", "-c", `import os; print(os.environ["PAAS_PROCESS"])`}, `python3 -c 'import os; print(os.environ["PAAS_PROCESS"])'`},
		{[]string{"echo", "it's", "", "a=b"}, `echo 'it'\''s' '' a=b`},
	} {
		if got := commandLine(c.args); got != c.want {
			t.Errorf("commandLine(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}
