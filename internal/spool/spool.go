// Package spool is a bounded first-in first-out queue of records on disk
// that survives a crash: Append returns only once the record is fsynced,
// and Pop (after the record's work is done) is fsynced too, so a record is
// either still in the spool or done, whatever moment the process dies at.
// A record whose work was done but whose Pop did not reach the disk is
// handed out again: consumers make their work idempotent.
//
// The spool is one append-only file (spool.log: per record a 4-byte
// length, a 4-byte CRC-32C and the bytes) and the offset of the first
// record not yet done (spool.pos). A torn last record (a crash inside
// Append, which therefore never returned) is cut off at Open. When every
// record is done the file is truncated, so the bound is on what is
// waiting, not on what went through.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrFull is returned by Append when the record would take the spool past
// its bound.
var ErrFull = errors.New("spool: full")

// ErrInUse is returned by Open when another process has the spool open.
var ErrInUse = errors.New("spool: in use by another process")

const (
	logName    = "spool.log"
	posName    = "spool.pos"
	headerSize = 8
	// MaxRecord bounds one record, so a corrupt length cannot make Open
	// or Peek allocate gigabytes.
	MaxRecord = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Spool is safe for concurrent use.
type Spool struct {
	mu    sync.Mutex
	dir   string
	max   int64
	log   *os.File
	pos   int64 // offset of the first record not done
	size  int64 // end of the last complete record
	count int   // records waiting
}

// Open opens (creating it if needed) the spool in dir, holding at most max
// bytes of records waiting (max <= 0: no bound).
func Open(dir string, max int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// One process per spool: two appending to one file would interleave
	// records and replay each other's. The lock goes with the process.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (each process needs a spool directory of its own)", ErrInUse, dir)
		}
		return nil, fmt.Errorf("spool: lock %s: %w", dir, err)
	}
	s := &Spool{dir: dir, max: max, log: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// load reads the position, counts the records after it and cuts a torn
// tail off.
func (s *Spool) load() error {
	b, err := os.ReadFile(filepath.Join(s.dir, posName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("spool: %w", err)
	default:
		if s.pos, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || s.pos < 0 {
			return fmt.Errorf("spool: %s: bad position %q", posName, b)
		}
	}
	st, err := s.log.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if s.pos > st.Size() {
		// Truncated after everything was done, position not yet reset.
		if err := s.writePos(st.Size()); err != nil {
			return err
		}
		s.pos = st.Size()
	}
	off := s.pos
	for off < st.Size() {
		n, err := s.recordAt(off, nil)
		if err != nil {
			if s.reachesEnd(off, st.Size()) {
				break // a torn record: its Append never returned
			}
			// Records follow a bad one: the disk corrupted acknowledged
			// records. Cutting them off would lose them silently.
			return fmt.Errorf("spool: %s is corrupt at offset %d, with records after it: %w (move the spool aside and look)", logName, off, err)
		}
		off += n
		s.count++
	}
	if off < st.Size() {
		if err := s.log.Truncate(off); err != nil {
			return fmt.Errorf("spool: cut a torn record: %w", err)
		}
	}
	s.size = off
	return nil
}

// reachesEnd reports whether the record at off, as far as its header can
// be read, extends to the end of the file (size): what a crash in the
// middle of Append leaves.
func (s *Spool) reachesEnd(off, size int64) bool {
	var h [headerSize]byte
	if _, err := s.log.ReadAt(h[:], off); err != nil {
		return true
	}
	return off+headerSize+int64(binary.BigEndian.Uint32(h[:4])) >= size
}

// recordAt reads the record at off into *out (when out is not nil) and
// returns its length on disk.
func (s *Spool) recordAt(off int64, out *[]byte) (int64, error) {
	var h [headerSize]byte
	if _, err := s.log.ReadAt(h[:], off); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n > MaxRecord {
		return 0, fmt.Errorf("spool: record at %d: length %d", off, n)
	}
	b := make([]byte, n)
	if _, err := s.log.ReadAt(b, off+headerSize); err != nil {
		return 0, err
	}
	if crc32.Checksum(b, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return 0, fmt.Errorf("spool: record at %d: checksum mismatch", off)
	}
	if out != nil {
		*out = b
	}
	return headerSize + int64(n), nil
}

// Append adds rec at the end and returns once it is on disk.
func (s *Spool) Append(rec []byte) error {
	if len(rec) > MaxRecord {
		return fmt.Errorf("spool: record of %d bytes is larger than %d", len(rec), MaxRecord)
	}
	buf := make([]byte, headerSize+len(rec))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(rec)))
	binary.BigEndian.PutUint32(buf[4:8], crc32.Checksum(rec, crcTable))
	copy(buf[headerSize:], rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return errors.New("spool: closed")
	}
	if s.max > 0 && s.size-s.pos+int64(len(buf)) > s.max {
		return fmt.Errorf("%w: %d records (%d bytes) wait, the bound is %d bytes", ErrFull, s.count, s.size-s.pos, s.max)
	}
	if _, err := s.log.WriteAt(buf, s.size); err != nil {
		s.log.Truncate(s.size) // best effort: leave no torn record behind
		return fmt.Errorf("spool: append: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("spool: append: fsync: %w", err)
	}
	s.size += int64(len(buf))
	s.count++
	return nil
}

// Peek returns the first record not done; ok is false when none waits.
func (s *Spool) Peek() (rec []byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return nil, false, errors.New("spool: closed")
	}
	if s.count == 0 {
		return nil, false, nil
	}
	if _, err := s.recordAt(s.pos, &rec); err != nil {
		return nil, false, fmt.Errorf("spool: read: %w", err)
	}
	return rec, true, nil
}

// Pop marks the first record done, durably. When it was the last one the
// file is emptied.
func (s *Spool) Pop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return errors.New("spool: closed")
	}
	if s.count == 0 {
		return nil
	}
	n, err := s.recordAt(s.pos, nil)
	if err != nil {
		return fmt.Errorf("spool: pop: %w", err)
	}
	pos := s.pos + n
	if s.count == 1 {
		// Truncate first: a crash before the position is reset leaves a
		// position past the end, which load reads as "empty".
		if err := s.log.Truncate(0); err != nil {
			return fmt.Errorf("spool: pop: %w", err)
		}
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("spool: pop: fsync: %w", err)
		}
		pos, s.size = 0, 0
	}
	if err := s.writePos(pos); err != nil {
		return err
	}
	s.pos = pos
	s.count--
	return nil
}

// writePos replaces spool.pos atomically (temp file, fsync, rename, fsync
// of the directory).
func (s *Spool) writePos(pos int64) error {
	tmp := filepath.Join(s.dir, posName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: position: %w", err)
	}
	_, err = io.WriteString(f, strconv.FormatInt(pos, 10)+"\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, posName))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("spool: position: %w", err)
	}
	return nil
}

// Len is the number of records waiting.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Bytes is the size of the records waiting, against the bound Max.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size - s.pos
}

// Max is the bound given to Open.
func (s *Spool) Max() int64 { return s.max }

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Close closes the file; the records waiting stay for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return nil
	}
	err := s.log.Close()
	s.log = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", dir, err)
	}
	return nil
}
