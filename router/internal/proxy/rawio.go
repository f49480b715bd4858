package proxy

import (
	"io"
	"net"
	"sync"
	"syscall"
)

// rawIO is a connection's write buffer, and its reader, that can send
// what is buffered and wait for the answer in one step.
//
// Go's net package reads a socket at once and, when nothing is there yet
// (EAGAIN), parks the goroutine until epoll says the socket is readable,
// then reads again. A proxy reads right after it writes — the backend's
// answer just after sending it the request, the client's next request just
// after sending it the response — so every such read was a wasted system
// call: two of the fast path's six per request. Read, with output pending,
// writes it from inside syscall.RawConn.Read's callback and declines the
// read attempt that follows, so the runtime waits for readability first.
// Declining is safe only there: RawConn.Read arms the readiness wait
// before the callback runs, so an answer arriving right after the write
// is not missed.
type rawIO struct {
	c    net.Conn
	rc   syscall.RawConn // nil when c gives no raw access: plain writes and reads then
	out  []byte          // nil between uses when pooled
	bufp *[]byte         // out's buffer, from outBufs, when pooled
	max  int             // a Write that fills out past max flushes

	step     func(fd uintptr) bool // o.stepRead, made once
	waitStep func(fd uintptr) bool // o.stepWait, made once

	// Read's and Wait's state, for their steps.
	p            []byte
	written, n   int
	rerr, werr   error
	read, probed bool
}

// outBufs holds the write buffers of client connections between uses, so
// that an idle keep-alive connection holds none.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, fastWriteBuf); return &b }}

// newPooledRawIO returns a rawIO whose buffer comes from outBufs when
// needed and goes back by release.
func newPooledRawIO(c net.Conn) *rawIO {
	o := newRawIO(c, 0)
	o.max = fastWriteBuf
	return o
}

// grow makes sure out has a buffer.
func (o *rawIO) grow() {
	if o.out == nil {
		o.bufp = outBufs.Get().(*[]byte)
		o.out = (*o.bufp)[:0]
	}
}

// release gives an empty pooled buffer back.
func (o *rawIO) release() {
	if o.bufp != nil && len(o.out) == 0 {
		*o.bufp = o.out[:0]
		outBufs.Put(o.bufp)
		o.bufp, o.out = nil, nil
	}
}

func newRawIO(c net.Conn, size int) *rawIO {
	o := &rawIO{c: c, max: size}
	if size > 0 {
		o.out = make([]byte, 0, size)
	}
	o.step = o.stepRead
	o.waitStep = o.stepWait
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			o.rc = rc
		}
	}
	return o
}

// Buffered returns the number of bytes waiting to be written.
func (o *rawIO) Buffered() int { return len(o.out) }

func (o *rawIO) Write(p []byte) (int, error) {
	if len(o.out)+len(p) > o.max && len(o.out) > 0 {
		if err := o.Flush(); err != nil {
			return 0, err
		}
	}
	if len(p) >= o.max {
		return o.c.Write(p) // a big piece of body: no copy
	}
	o.grow()
	o.out = append(o.out, p...)
	return len(p), nil
}

func (o *rawIO) WriteString(s string) (int, error) {
	if len(o.out)+len(s) > o.max && len(o.out) > 0 {
		if err := o.Flush(); err != nil {
			return 0, err
		}
	}
	o.grow()
	o.out = append(o.out, s...)
	return len(s), nil
}

// Flush writes what is buffered.
func (o *rawIO) Flush() error {
	if len(o.out) == 0 {
		return nil
	}
	_, err := o.c.Write(o.out)
	o.out = o.out[:0]
	return err
}

// Discard drops what is buffered.
func (o *rawIO) Discard() { o.out = o.out[:0] }

// Read writes what is buffered, then reads.
func (o *rawIO) Read(p []byte) (int, error) {
	if len(o.out) == 0 || o.rc == nil {
		if err := o.Flush(); err != nil {
			return 0, err
		}
		return o.c.Read(p)
	}
	o.p, o.written, o.n, o.rerr, o.werr, o.read = p, 0, 0, nil, nil, false
	err := o.rc.Read(o.step)
	o.p = nil
	out := o.out[o.written:]
	o.out = o.out[:0]
	if o.werr != nil {
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: o.c.RemoteAddr(), Err: o.werr}
	}
	if len(out) > 0 {
		// Not all written (a full send buffer), or the wait was cut short (a
		// deadline, shutdown): write the rest, then read as usual.
		if _, err := o.c.Write(out); err != nil {
			return 0, err
		}
		if err != nil {
			return 0, err
		}
		return o.c.Read(p)
	}
	if err != nil {
		return 0, err
	}
	if !o.read {
		return o.c.Read(p)
	}
	if o.rerr != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Addr: o.c.RemoteAddr(), Err: o.rerr}
	}
	if o.n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return o.n, nil
}

// Wait writes what is buffered, then waits until the connection has
// something to read (or its end, or an error), without reading it.
func (o *rawIO) Wait() error {
	if o.rc == nil {
		return o.Flush() // the read that follows waits
	}
	o.written, o.werr, o.probed = 0, nil, false
	err := o.rc.Read(o.waitStep)
	out := o.out[o.written:]
	o.out = o.out[:0]
	if o.werr != nil {
		return &net.OpError{Op: "write", Net: "tcp", Addr: o.c.RemoteAddr(), Err: o.werr}
	}
	if len(out) > 0 {
		if _, werr := o.c.Write(out); werr != nil {
			return werr
		}
	}
	return err
}

// stepWait is RawConn.Read's callback for Wait.
func (o *rawIO) stepWait(fd uintptr) bool {
	if o.probed {
		return true // readable now
	}
	o.probed = true
	if len(o.out) > 0 {
		if done := o.writeOut(fd); done {
			return true
		}
		return false // written: wait for readability
	}
	// Nothing to write: is there something to read already? (The wait
	// about to begin counts only what arrives from now on.)
	var b [1]byte
	_, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return e != syscall.EAGAIN
}

// writeOut writes out from fd, from o.written on. It reports true when it
// must stop short: a full send buffer (the rest goes the usual way) or an
// error, in o.werr.
func (o *rawIO) writeOut(fd uintptr) bool {
	for o.written < len(o.out) {
		m, e := syscall.Write(int(fd), o.out[o.written:])
		if m > 0 {
			o.written += m
		}
		switch e {
		case nil:
			if m == 0 {
				o.werr = io.ErrShortWrite
				return true
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			return true
		default:
			o.werr = e
			return true
		}
	}
	return false
}

// stepRead is RawConn.Read's callback for Read: the first call writes, the
// next ones read. It reports whether it is done.
func (o *rawIO) stepRead(fd uintptr) bool {
	if o.written < len(o.out) {
		if done := o.writeOut(fd); done {
			return true
		}
		return false // no read attempt now: wait for readability, then read
	}
	for {
		m, e := syscall.Read(int(fd), o.p)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for readability: this is the point
		}
		o.n, o.rerr, o.read = max(m, 0), e, true
		return true
	}
}
