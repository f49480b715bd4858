package repo

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

const (
	zero = "0000000000000000000000000000000000000000"
	h1   = "1111111111111111111111111111111111111111"
	h2   = "2222222222222222222222222222222222222222"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Command // nil: nothing to push
		wantErr bool
		rest    string // what is left for the pack
	}{
		{name: "empty", in: ""},
		{name: "lone flush", in: "0000"},
		{name: "one command", in: pkt(zero+" "+h1+" refs/heads/main\x00report-status side-band-64k\n") + "0000PACK",
			want: []Command{{Name: plumbing.Main, New: plumbing.NewHash(h1)}}, rest: "PACK"},
		{name: "two commands", in: pkt(h1+" "+h2+" refs/heads/main\x00report-status\n") + pkt(h1+" "+zero+" refs/heads/old\n") + "0000",
			want: []Command{{Name: plumbing.Main, Old: plumbing.NewHash(h1), New: plumbing.NewHash(h2)}, {Name: "refs/heads/old", Old: plumbing.NewHash(h1)}}},
		{name: "shallow", in: pkt("shallow "+h1) + pkt(zero+" "+h1+" refs/heads/main\x00report-status\n") + "0000",
			want: []Command{{Name: plumbing.Main, New: plumbing.NewHash(h1)}}},
		{name: "two shallow", in: pkt("shallow "+h1+"\n") + pkt("shallow "+h2+"\n") + pkt(zero+" "+h1+" refs/heads/main\x00report-status\n") + "0000",
			want: []Command{{Name: plumbing.Main, New: plumbing.NewHash(h1)}}},
		{name: "only shallow", in: pkt("shallow " + h1), wantErr: true},
		{name: "short shallow", in: "0007shallow 0000", wantErr: true},
		{name: "bad ref name", in: pkt(zero+" "+h1+" refs/heads/../../config\x00report-status\n") + "0000", wantErr: true},
		{name: "ref outside refs", in: pkt(zero+" "+h1+" HEAD\x00report-status\n") + "0000", wantErr: true},
		{name: "no capabilities", in: pkt(zero+" "+h1+" refs/heads/main\n") + "0000", wantErr: true},
		{name: "bad hash", in: pkt(zero+" zzzz111111111111111111111111111111111111 refs/heads/main\x00\n") + "0000", wantErr: true},
		{name: "bad length", in: "zzzz", wantErr: true},
		{name: "truncated", in: "00ff" + zero, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			req, _, err := DecodeRequest(br)
			if tt.wantErr {
				if err == nil {
					t.Errorf("DecodeRequest(%q) = %v, nil; want an error", tt.in, req)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeRequest(%q) = %v", tt.in, err)
			}
			var got []Command
			if req != nil {
				for _, c := range req.Commands {
					got = append(got, Command{Name: c.Name, Old: c.Old, New: c.New})
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeRequest(%q) commands (-want +got):\n%s", tt.in, diff)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tt.rest {
				t.Errorf("DecodeRequest(%q) left %q, want %q", tt.in, rest, tt.rest)
			}
		})
	}
}

// FuzzDecodeRequest: no input makes the request decoder panic or accept a
// reference name outside refs/.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte("0000"))
	f.Add([]byte(pkt(zero+" "+h1+" refs/heads/main\x00report-status side-band-64k\n") + "0000PACK"))
	f.Add([]byte(pkt("shallow "+h1) + pkt(zero+" "+h1+" refs/heads/main\x00report-status\n") + "0000"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, _, err := DecodeRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil || req == nil {
			return
		}
		for _, c := range req.Commands {
			if !strings.HasPrefix(string(c.Name), "refs/") || strings.Contains(string(c.Name), "..") {
				t.Errorf("DecodeRequest(%q) accepted ref %q", in, c.Name)
			}
		}
	})
}
