package client

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"filippo.io/age"

	"github.com/raftsnap/raftsnap/snapshot/agecrypt"
)

// identityFlag is --identity-file, shared by the commands that read
// archives: the age identity (or OpenSSH key) that decrypts an
// age-encrypted archive (NAME.snap.age) on the fly.
const identityFlagUsage = "age identity file (or OpenSSH private key, mode 0600) that decrypts an age-encrypted archive on the fly"

// loadIdentities reads --identity-file; nil when it was not given.
func loadIdentities(file string) ([]age.Identity, error) {
	if file == "" {
		return nil, nil
	}
	ids, err := agecrypt.LoadIdentityFile(file)
	if err != nil {
		return nil, usageError(err)
	}
	return ids, nil
}

// archiveFile is an archive file opened for reading, decrypted on the fly
// when it is age-encrypted.
type archiveFile struct {
	io.ReadSeeker
	size      int64
	encrypted bool
	f         *os.File
}

func (a *archiveFile) Close() error { return a.f.Close() }

// openArchiveFile opens path: as it is, or, when it starts with an age
// header, decrypted with ids (an error saying to give --identity-file
// when there are none).
func openArchiveFile(path string, ids []age.Identity) (*archiveFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, usageError(fmt.Errorf("%s is not a regular file", path))
	}
	prefix := make([]byte, len(agecrypt.Header))
	n, _ := f.ReadAt(prefix, 0)
	if !agecrypt.IsEncrypted(prefix[:n]) {
		return &archiveFile{ReadSeeker: f, size: info.Size(), f: f}, nil
	}
	if ids == nil {
		f.Close()
		return nil, usageError(fmt.Errorf("%s is encrypted with age: give --identity-file with the key that decrypts it", path))
	}
	plain, err := agecrypt.OpenFile(f, info.Size(), path, ids)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &archiveFile{ReadSeeker: plain, size: plain.Size(), encrypted: true, f: f}, nil
}

// decryptingStdin is standard input, decrypted as it streams when it
// starts with an age header and ids are given.
func decryptingStdin(stdin io.Reader, ids []age.Identity) (io.Reader, error) {
	br := bufio.NewReaderSize(stdin, 64<<10)
	prefix, _ := br.Peek(len(agecrypt.Header))
	if !agecrypt.IsEncrypted(prefix) {
		return br, nil
	}
	if ids == nil {
		return nil, usageError(fmt.Errorf("standard input is encrypted with age: give --identity-file with the key that decrypts it"))
	}
	return agecrypt.Decrypt(br, "-", ids)
}
