package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Union reads the stores a job keeps copies of its snapshots in as one
// store, in order of preference: a name is listed once, as the first
// store's copy that is verified (else the first store's); Open falls back
// to another copy when a store fails. Update records a verdict in the
// store the entry came from (Entry.Store); Create and Delete fail with
// ErrReadOnly. Restore jobs and `raftsnap store get` read a job's stores
// through it.
type Union struct {
	stores []Store
}

var _ Store = (*Union)(nil)

// NewUnion reads stores, the first preferred.
func NewUnion(stores ...Store) *Union { return &Union{stores: stores} }

// Stores are the stores, in order of preference.
func (u *Union) Stores() []Store { return u.stores }

// String implements Store.
func (u *Union) String() string {
	names := make([]string, len(u.stores))
	for i, st := range u.stores {
		names[i] = st.String()
	}
	return strings.Join(names, " + ")
}

// Location implements Store: the stores' locations, joined by " + ".
func (u *Union) Location() string {
	locs := make([]string, len(u.stores))
	for i, st := range u.stores {
		locs[i] = st.Location()
	}
	return strings.Join(locs, " + ")
}

// List implements Store. A store that cannot be listed is left out as long
// as another can be; the error says which failed when none could.
func (u *Union) List(ctx context.Context) ([]Entry, []Foreign, error) {
	var (
		entries []Entry
		foreign []Foreign
		errs    []error
		at      = map[string]int{}
	)
	for _, st := range u.stores {
		es, fs, err := st.List(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range es {
			e.Store = st.Location()
			if i, ok := at[e.Name]; ok {
				if !entries[i].Verified && e.Verified {
					entries[i] = e
				}
				continue
			}
			at[e.Name] = len(entries)
			entries = append(entries, e)
		}
		for _, f := range fs {
			f.Store = st.Location()
			foreign = append(foreign, f)
		}
	}
	if len(errs) == len(u.stores) && len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	SortNewestFirst(entries)
	return entries, foreign, nil
}

// copies returns the stores' entries for name, the preferred first.
func (u *Union) copies(ctx context.Context, name string) ([]Entry, []Store, error) {
	var (
		verified, other       []Entry
		verifiedSt, otherSt   []Store
		notFound, otherErrors []error
	)
	for _, st := range u.stores {
		e, err := st.Get(ctx, name)
		switch {
		case err == nil:
			e.Store = st.Location()
			if e.Verified {
				verified, verifiedSt = append(verified, e), append(verifiedSt, st)
			} else {
				other, otherSt = append(other, e), append(otherSt, st)
			}
		case errors.Is(err, ErrNotFound):
			notFound = append(notFound, err)
		default:
			otherErrors = append(otherErrors, err)
		}
	}
	entries, stores := append(verified, other...), append(verifiedSt, otherSt...)
	if len(entries) > 0 {
		return entries, stores, nil
	}
	if len(otherErrors) > 0 {
		return nil, nil, errors.Join(otherErrors...)
	}
	return nil, nil, fmt.Errorf("%s: no snapshot named %q: %w", u, name, ErrNotFound)
}

// Get implements Store.
func (u *Union) Get(ctx context.Context, name string) (Entry, error) {
	entries, _, err := u.copies(ctx, name)
	if err != nil {
		return Entry{}, err
	}
	return entries[0], nil
}

// Open implements Store: the preferred copy, or the next one when a store
// fails to open it.
func (u *Union) Open(ctx context.Context, name string) (io.ReadCloser, Entry, error) {
	entries, stores, err := u.copies(ctx, name)
	if err != nil {
		return nil, Entry{}, err
	}
	var errs []error
	for i, st := range stores {
		r, e, err := st.Open(ctx, name)
		if err == nil {
			e.Store = st.Location()
			return r, e, nil
		}
		if ctx.Err() != nil {
			return nil, entries[i], err
		}
		errs = append(errs, err)
	}
	return nil, entries[0], errors.Join(errs...)
}

// Create implements Store: ErrReadOnly.
func (u *Union) Create(context.Context, string, string) (Pending, error) { return nil, ErrReadOnly }

// Delete implements Store: ErrReadOnly.
func (u *Union) Delete(context.Context, string) error { return ErrReadOnly }

// Update implements Store: in the store the entry was read from.
func (u *Union) Update(ctx context.Context, entry Entry) error {
	for _, st := range u.stores {
		if st.Location() == entry.Store {
			return st.Update(ctx, entry)
		}
	}
	return fmt.Errorf("%s: no store %q to record %s in", u, entry.Store, entry.Name)
}

// Close implements Store; the stores themselves are their owners' to close.
func (u *Union) Close() error { return nil }

// Copies returns the copies of the snapshot name in the stores that hold
// it, with those stores: the verified copies first, each group in order
// of preference. `raftsnap store get` tries them in that order.
func (u *Union) Copies(ctx context.Context, name string) ([]Entry, []Store, error) {
	return u.copies(ctx, name)
}
