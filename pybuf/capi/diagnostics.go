package capi

import (
	"encoding/json"
	"io"
	"syscall"

	"github.com/pybuf-go/pybuf/pybuf/registry"
)

// ownerJSON is one element of pybuf_core_live_json's array; the shim turns
// it into a pybuf.OwnerInfo. Absent sites are null, never "".
type ownerJSON struct {
	ID        uint64       `json:"id"`
	Interp    int64        `json:"interp"`
	Parent    *uint64      `json:"parent"`
	Name      string       `json:"name"`
	Closed    bool         `json:"closed"`
	Buffers   int64        `json:"buffers"`
	Exports   int64        `json:"exports"`
	Nbytes    int64        `json:"nbytes"`
	CreatedAt *string      `json:"created_at"`
	Holders   []holderJSON `json:"holders"`
}

type holderJSON struct {
	Kind string  `json:"kind"` // "buffer" or "export"
	Site *string `json:"site"`
}

func liveJSON(infos []registry.Info) []byte {
	owners := make([]ownerJSON, len(infos))
	for i, info := range infos {
		holders := make([]holderJSON, len(info.Holders))
		for j, h := range info.Holders {
			holders[j] = holderJSON{Kind: h.Kind.String(), Site: nullable(h.Site)}
		}
		owners[i] = ownerJSON{
			ID:        info.ID,
			Interp:    info.Interp,
			Parent:    nullableID(info.Parent),
			Name:      info.Name,
			Closed:    info.Closed,
			Buffers:   info.Buffers,
			Exports:   info.Exports,
			Nbytes:    info.Nbytes,
			CreatedAt: nullable(info.CreatedAt),
			Holders:   holders,
		}
	}
	// Only strings, numbers and booleans: Marshal cannot fail.
	out, _ := json.Marshal(owners)
	return out
}

func nullableID(id uint64) *uint64 {
	if id == 0 {
		return nil
	}
	return &id
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fdWriter writes straight to a file descriptor the caller keeps owning:
// os.NewFile would close it when garbage collected.
type fdWriter int32

func (fd fdWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := syscall.Write(int(fd), p[written:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return written, err
		}
		if n <= 0 {
			return written, io.ErrShortWrite
		}
		written += n
	}
	return written, nil
}
