package extract

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"
)

// sourceTar is a tar of a source tree: n files of 1 KiB in directories of
// 50.
func sourceTar(b *testing.B, n int) []byte {
	b.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := bytes.Repeat([]byte("x"), 1024)
	for i := range n {
		if i%50 == 0 {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("src/d%d/", i/50), Mode: 0o755}); err != nil {
				b.Fatal(err)
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("src/d%d/f%d.go", i/50, i), Mode: 0o644, Size: int64(len(body))}
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkTar unpacks a source tree of 5,000 files of 1 KiB.
func BenchmarkTar(b *testing.B) {
	arch := sourceTar(b, 5000)
	b.SetBytes(int64(len(arch)))
	for b.Loop() {
		if err := Tar(bytes.NewReader(arch), b.TempDir(), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
