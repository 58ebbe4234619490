INSERT INTO `keys` (`api_key`, `api_secret`) VALUES ('5sXQTPU0TSRbHERhlyLCKfnL3HyCGOahboVjMBotj9xkEnyfCdciKk5hs2JZzZFr', 'urrTpSCBhM5coEixN5ecRHoeTAR7W0S2sYnTte9qnLcathr96MrGVRKU1i4i97Q8'),
('phoitvbsTuWNTgS8KpiWMjEAoTXdCQuV5woEoKico7iwQgHR9bEPkjbqwoLbFeMJ', '4hn9FDzjQb4Fs7DgzEluJkqBIPGlOgCAHh1gpXHWDqE19e4NIL1hNTdoSdImBgPl')
