CREATE TABLE `api_keys` (
  `id` int NOT NULL,
  `api_key` varchar(64) NOT NULL,
  `api_secret` varchar(64) NOT NULL,
  PRIMARY KEY (`id`)
);
INSERT INTO `api_keys` VALUES (1,'ssHnkjNe2qt8iHWBaQrMRZlrLExNM8q9PbFPYbo9R8JcZZ2Ac6ZPCFmDFhB53spq','2mnkk2v3Yh8bxDlSQVoZ5bZ7w3G5kGeRBLQg0csV9VG3Tp3hSkwzun0FtOn4BU5h'),(2,'G5j795TZKICFKnNbvsIpwrPBvZDXUBthuEpajM9sD81WuR4ndDqPMKuBISVOcDBh','a26f0bEcJhvgEvJwzT0BozsbJHf0nejVRWhPQuEpcKnnhLJl8eK6lJRdEGTLGjPe
