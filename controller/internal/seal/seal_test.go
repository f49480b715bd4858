package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("sk_live_canary")
	a, err := s.Seal(secret, []byte("shop/STRIPE_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal(secret, []byte("shop/STRIPE_KEY"))
	if a == b {
		t.Errorf("Seal twice gave the same output %q: nonces are not fresh", a)
	}
	if strings.Contains(a, "canary") {
		t.Errorf("Seal output %q contains the plaintext", a)
	}
	got, err := s.Open(a, []byte("shop/STRIPE_KEY"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open(Seal(x)) = %q, %v; want %q", got, err, secret)
	}
	if _, err := s.Open(a, []byte("other/STRIPE_KEY")); err == nil {
		t.Error("Open with other additional data succeeded")
	}
	other, _ := New(bytes.Repeat([]byte{1}, KeySize))
	if _, err := other.Open(a, []byte("shop/STRIPE_KEY")); err == nil {
		t.Error("Open with another key succeeded")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("second LoadOrCreateKey = %x, %v; want the first key %x", k2, err, k1)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("LoadOrCreateKey accepted a world-readable key file")
	}
}
