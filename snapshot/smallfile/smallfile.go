// Package smallfile reads a small file whole: a configuration, a token, a
// key. The one set of rules for such files: a regular file (not a directory,
// not a FIFO, whose open would wait for a writer forever), no larger than
// its kind can be.
package smallfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Spec says what a file is, for its errors, and how large it may be.
type Spec struct {
	// What names the file in errors: "configuration", "identity file".
	What string
	// Kind is what a file over Max cannot be: "a raftsnap configuration".
	Kind string
	// Max is the most bytes the file may hold.
	Max int
	// Check, if set, sees the file's mode and owner before a byte is read:
	// its error is returned as it is.
	Check func(os.FileInfo) error
}

// Read returns the content of the file at path. Every error but Check's
// starts "reading <What>: " and names path.
func (s Spec) Read(path string) ([]byte, error) {
	// Non-blocking: opening a FIFO for reading would otherwise wait for a
	// writer forever.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.What, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.What, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: %s is not a regular file", s.What, path)
	}
	if s.Check != nil {
		if err := s.Check(info); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(s.Max)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", s.What, path, err)
	}
	if len(data) > s.Max {
		return nil, fmt.Errorf("reading %s: %s is larger than %s: not %s", s.What, path, size(s.Max), s.Kind)
	}
	return data, nil
}

// size writes n bytes in the largest binary unit that divides it.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
