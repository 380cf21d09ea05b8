import { describe, expect, it } from 'vitest';
import {
  VsphereFaultError,
  VsphereFileAlreadyExistsError,
  VsphereInsufficientResourcesError,
} from '../../core/vsphere/errors.js';
import { faultName, faultToError } from '../../core/vsphere/faults.js';
import { createVmConfig, unitNumberOf } from '../../core/vsphere/vm-spec.js';
import { envelope, escapeXml, XmlNode } from '../../core/vsphere/xml.js';

describe('vSphere XML', () => {
  it('escapes every markup character so a name or password cannot change the request', () => {
    expect(escapeXml(`a&b<c>d"e'f`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;f');
    const parsed = XmlNode.parse(
      envelope(
        'Login',
        { type: 'SessionManager', value: 'SessionManager' },
        `<userName>${escapeXml('</userName><x>')}</userName>`,
      ),
    );
    expect(parsed.child('Body')?.child('Login')?.childText('userName')).toBe('</userName><x>');
  });

  it('reads one and many children alike, MoRefs with both type attributes, and numeric character references', () => {
    const node = XmlNode.parse(
      '<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><val type="Folder" xsi:type="ManagedObjectReference">group-v3</val>' +
        '<n>007</n><n>&#34;q&#34; &amp; x</n><empty/></r>',
    );
    expect(node.child('val')?.moRef()).toEqual({ type: 'Folder', value: 'group-v3' });
    expect(node.child('val')?.xsiType()).toBe('ManagedObjectReference');
    expect(node.children('n').map((n) => n.text())).toEqual(['007', '"q" & x']);
    expect(node.childText('empty')).toBe('');
    expect(node.childText('missing')).toBeUndefined();
  });
});

describe('vSphere VM spec', () => {
  it('puts disks on units 0–6 then 8–15 (7 is the controller) and refuses a 16th disk', () => {
    expect([0, 6, 7, 14].map(unitNumberOf)).toEqual([0, 6, 8, 15]);
    const disk = { fileName: '[ds] d.vmdk', datastore: { type: 'Datastore', value: 'ds-1' } };
    const base = { name: 'vm', vmPathName: '[ds]', guestId: 'otherLinux64Guest', numCpus: 1, memoryMiB: 512 };
    expect(() => createVmConfig({ ...base, disks: Array.from({ length: 16 }, () => disk) })).toThrow(RangeError);
  });

  it('writes the config fields in WSDL order (a real vCenter rejects another order)', () => {
    const xml = createVmConfig({
      name: 'vm & co',
      vmPathName: '[ds]',
      guestId: 'otherLinux64Guest',
      numCpus: 2,
      memoryMiB: 4096,
      annotation: 'a',
      disks: [{ fileName: '[ds] d.vmdk', datastore: { type: 'Datastore', value: 'ds-1' } }],
      network: { kind: 'standard', ref: { type: 'Network', value: 'network-7' }, name: 'VM Network' },
    });
    const order = ['<name>', '<guestId>', '<annotation>', '<files>', '<numCPUs>', '<memoryMB>', '<deviceChange>'];
    const positions = order.map((tag) => xml.indexOf(tag));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(xml).toContain('<name>vm &amp; co</name>');
  });
});

describe('vSphere faults', () => {
  it('names a fault by its xsi:type, else by its element name without "Fault"', () => {
    const detail = XmlNode.parse(
      '<d xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><InvalidLoginFault xsi:type="InvalidLogin"/><NotFoundFault/></d>',
    );
    const [typed, untyped] = detail.elements();
    expect(faultName(typed)).toBe('InvalidLogin');
    expect(faultName(untyped)).toBe('NotFound');
  });

  it('maps FileAlreadyExists and the InsufficientResources family to their classes, anything else to VsphereFaultError', () => {
    expect(faultToError('FileAlreadyExists', 'm')).toBeInstanceOf(VsphereFileAlreadyExistsError);
    for (const name of ['InsufficientResourcesFault', 'InsufficientStorageSpace', 'InsufficientMemoryResourcesFault']) {
      expect(faultToError(name, 'm')).toBeInstanceOf(VsphereInsufficientResourcesError);
    }
    const other = faultToError('InvalidPowerState', 'm');
    expect(other).toBeInstanceOf(VsphereFaultError);
    expect(other).not.toBeInstanceOf(VsphereInsufficientResourcesError);
    expect(other.name).toBe('VsphereFaultError');
    expect(other.faultName).toBe('InvalidPowerState');
  });
});
