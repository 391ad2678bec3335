"""Writers for every evidence shape vvolguard reads, from plain data.

The simulator uses them to write whole incidents; tests and fixture builders use them to write
hand-scripted evidence. Each module has one job and a small API of functions that take plain data
(dataclasses, datetimes, strings) and return ``str``/``bytes`` or write files. Nothing here knows
about SimPy, so a fixture never needs to run a simulation.

* :mod:`.vvold`: vvold.log lines in the ESXi 6.7/7.0 shape (``esxi7``) and the ESXi 8.0 shape
  (``esxi8``), the vocabulary of docs/evidence-formats.md §1.2/§1.6/§1.7, and rotation to ``vvold.N.gz``.
* :mod:`.hostlogs`: hostd and vmkernel lines (vMotion failure, switchover exceeded, vVol/PE).
* :mod:`.esxcli`: ``esxcli storage vvol ... list`` as text (§2.2) and as JSON twins (§2.3).
* :mod:`.vcenter`: vSphere Client Tasks CSV (§4.4), PowerCLI ``Get-Task`` (§4.2),
  ``Get-VIEvent`` (§4.3) and ``Get-VasaProvider`` (§4.1) JSON exports.
* :mod:`.certs`: real X.509 provider certificates (valid, near expiry, expired, wrong hostname),
  byte-identical for a given seed.
* :mod:`.bundle`: the vm-support bundle, as a folder and as a reproducible ``.tgz``.

Shapes marked [RECONSTRUCTED] in the reference are reproduced as the reference reconstructs them;
the modules say which.
"""
