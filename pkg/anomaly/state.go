package anomaly

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
)

// stateVersion changes when the encoded state changes incompatibly; a
// detector refuses a state of another version rather than misread it.
const stateVersion = 1

type envelope struct {
	Version int
	State   state
}

// MarshalBinary encodes the whole state, settings included. gob keeps NaN and
// infinities exact, which JSON cannot.
func (e *Ensemble) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(envelope{Version: stateVersion, State: e.st}); err != nil {
		return nil, fmt.Errorf("encode anomaly state: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces the state with one from MarshalBinary. It checks
// the sizes the detectors index with, so a corrupt state fails here instead
// of panicking on the next point.
func (e *Ensemble) UnmarshalBinary(data []byte) error {
	var env envelope
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&env); err != nil {
		return fmt.Errorf("decode anomaly state: %w", err)
	}
	if env.Version != stateVersion {
		return fmt.Errorf("decode anomaly state: version %d, want %d", env.Version, stateVersion)
	}
	st := env.State
	if err := st.check(); err != nil {
		return fmt.Errorf("decode anomaly state: %w", err)
	}
	e.st = st
	return nil
}

func (st *state) check() error {
	s := st.Settings
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Window < minRobustPoints || len(st.RZ.Win.Buf) != s.Window || st.RZ.Win.Next < 0 || st.RZ.Win.Next >= s.Window {
		return fmt.Errorf("robust window: %d points, next %d, settings say %d", len(st.RZ.Win.Buf), st.RZ.Win.Next, s.Window)
	}
	hw := &st.HW
	if hw.Period > 0 && (hw.Ready || hw.Season != nil) && (len(hw.Season) != hw.Period || hw.Pos < 0 || hw.Pos >= hw.Period) {
		return fmt.Errorf("season: %d components at %d for period %d", len(hw.Season), hw.Pos, hw.Period)
	}
	if len(hw.Learn) > hw.LearnPoints || hw.Period > maxPeriod || hw.LearnPoints > maxLearnPoints {
		return fmt.Errorf("season learning: %d of %d points, period %d", len(hw.Learn), hw.LearnPoints, hw.Period)
	}
	if !(st.CS.H > 0) || math.IsInf(st.CS.H, 0) || math.IsNaN(st.CS.K) {
		return fmt.Errorf("cusum: allowance %v, interval %v", st.CS.K, st.CS.H)
	}
	f := &st.IF
	if len(f.Win) != forestWindow || f.Next < 0 || f.Next >= len(f.Win) || f.Sample != forestSample || f.Rebuild <= 0 {
		return fmt.Errorf("forest window: %d points, next %d", len(f.Win), f.Next)
	}
	if len(f.Trees) != 0 && len(f.Trees) != numTrees {
		return fmt.Errorf("forest: %d trees, want %d", len(f.Trees), numTrees)
	}
	for _, tree := range f.Trees {
		if len(tree) == 0 {
			return fmt.Errorf("forest: empty tree")
		}
		for i, n := range tree {
			if n.Left == 0 {
				if n.Size < 0 {
					return fmt.Errorf("forest: leaf %d holds %d points", i, n.Size)
				}
				continue
			}
			if n.Left <= int32(i) || n.Right <= int32(i) || int(n.Left) >= len(tree) || int(n.Right) >= len(tree) ||
				n.Feat < 0 || n.Feat >= numFeatures {
				return fmt.Errorf("forest: bad node %d", i)
			}
		}
	}
	return nil
}
