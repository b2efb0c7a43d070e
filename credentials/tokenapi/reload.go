package tokenapi

import "fmt"

// SetRegions replaces the region → relay host map for requests from now on
// (a configuration reload). The map is checked as New checks it; on error
// the regions in service stay.
func (a *API) SetRegions(regions map[string]string) error {
	p, err := newHostPolicy("", regions)
	if err != nil {
		return fmt.Errorf("tokenapi: %w", err)
	}
	a.hosts.regions.Store(p.regions.Load())
	return nil
}
