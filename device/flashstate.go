package device

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/device/config"
)

// persistVersion is the version of the device-state record in flash.
const persistVersion = 1

// persisted is the agent's own state in flash (region C of certstore.Layout):
// everything except the certificate and the site roots.
type persisted struct {
	Version int `json:"version"`
	// LastTime is the last known good wall-clock time, restored at boot.
	LastTime time.Time `json:"last_time"`
	// Epid is the endpoint id (10 hex) used on every From header.
	Epid string `json:"epid"`
	// DeviceID is the GUID sent as GetAndPublishCert DeviceId.
	DeviceID string `json:"device_id"`
	// Registrar is the last registrar that accepted us.
	Registrar *discover.Endpoint `json:"registrar,omitempty"`
	// Flash is the config layer saved on the phone (image defaults).
	Flash config.Layer `json:"flash,omitempty"`
	// Provisioning is the in-band provisioning layer of the last sign-in.
	Provisioning config.Layer `json:"provisioning,omitempty"`
	// Tether is the technician's override layer.
	Tether config.Layer `json:"tether,omitempty"`
}

// stateStore reads and writes persisted through A/B slots.
type stateStore struct {
	slots *certstore.Slots
}

func (s *stateStore) load() (persisted, error) {
	var p persisted
	b, err := s.slots.Read()
	if errors.Is(err, certstore.ErrNotExist) {
		return persisted{Version: persistVersion}, nil
	}
	if err != nil {
		return persisted{Version: persistVersion}, fmt.Errorf("device: read state: %w", err)
	}
	var head struct{ Version int }
	if err := json.Unmarshal(b, &head); err != nil || head.Version != persistVersion {
		return persisted{Version: persistVersion}, fmt.Errorf("device: state record version %d, want %d (starting empty)", head.Version, persistVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return persisted{Version: persistVersion}, fmt.Errorf("device: decode state: %w", err)
	}
	return p, nil
}

// save writes p unless flash already holds it (flash wear).
func (s *stateStore) save(p persisted) error {
	p.Version = persistVersion
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := s.slots.WriteIfChanged(b); err != nil {
		return fmt.Errorf("device: save state: %w", err)
	}
	return nil
}
