package modbus

import (
	"encoding/hex"
)

// pduPoll sends one request to the unit being confirmed and returns the
// answer's PDU (nil when none came), whatever the transport's framing.
type pduPoll func(req PDU, confirm bool) (*PDU, error)

// readServerID polls FC 0x11 once and keeps the server id it answers, so
// twins that report different ids show up across polls.
func (u *unitState) readServerID(poll pduPoll) error {
	p, err := poll(ReportServerIDRequest(), false)
	if err != nil || p == nil || p.IsException() {
		return err
	}
	if b, err := ParseServerID(*p); err == nil {
		u.serverIDs = append(u.serverIDs, hex.EncodeToString(b))
		if u.identity.ServerID == "" {
			u.identity.ServerID = hex.EncodeToString(b)
			u.identity.ServerIDText = printable(b)
		}
	}
	return nil
}

// readIdentity reads FC 0x11 and FC 0x2B/0x0E (basic device identification)
// once, before the confirm polls.
func (u *unitState) readIdentity(poll pduPoll) error {
	if err := u.readServerID(poll); err != nil {
		return err
	}
	p, err := poll(ReadDeviceIDRequest(DeviceIDBasic, ObjVendorName), false)
	if err != nil {
		return err
	}
	if p != nil && !p.IsException() {
		if d, err := ParseDeviceID(*p); err == nil {
			u.identity.Vendor = d.Object(ObjVendorName)
			u.identity.Product = d.Object(ObjProductCode)
			u.identity.Revision = d.Object(ObjMajorMinorRevision)
			u.deviceIDs = append(u.deviceIDs, u.identity.Vendor+"|"+u.identity.Product+"|"+u.identity.Revision)
		}
	}
	return nil
}
