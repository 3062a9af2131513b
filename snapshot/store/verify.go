package store

import "fmt"

// VerificationError is a stored archive that no longer matches its sidecar
// or fails archive verification.
type VerificationError struct {
	Name string
	Err  error // a *snapshot.Error, or a size/checksum mismatch
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("stored snapshot %s fails verification: %v", e.Name, e.Err)
}

func (e *VerificationError) Unwrap() error { return e.Err }
