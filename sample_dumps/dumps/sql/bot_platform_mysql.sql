-- MySQL dump 10.13  Distrib 8.0.31, for Linux (x86_64)
--
-- Host: localhost    Database: bot_platform
-- ------------------------------------------------------
-- Server version	8.0.31

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `users`
--

DROP TABLE IF EXISTS `users`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `users` (
  `id` int NOT NULL AUTO_INCREMENT,
  `email` varchar(255) NOT NULL,
  `display_name` varchar(255) DEFAULT NULL,
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `email` (`email`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `users`
--

LOCK TABLES `users` WRITE;
/*!40000 ALTER TABLE `users` DISABLE KEYS */;
INSERT INTO `users` VALUES (1,'ann@example.com','Ann','2022-01-03 10:00:00'),(2,'bob@example.com','Bob O\'Brien','2022-01-04 11:30:00'),(3,'chen@example.com',NULL,'2022-01-09 17:45:12');
/*!40000 ALTER TABLE `users` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `api_keys`
--

DROP TABLE IF EXISTS `api_keys`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `api_keys` (
  `id` int NOT NULL AUTO_INCREMENT,
  `user_id` int NOT NULL,
  `exchange` varchar(32) NOT NULL,
  `label` varchar(255) DEFAULT NULL,
  `api_key` varchar(255) NOT NULL,
  `api_secret` varchar(255) NOT NULL,
  `passphrase` varchar(255) DEFAULT NULL,
  `status` enum('active','revoked') NOT NULL DEFAULT 'active',
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `user_id` (`user_id`)
) ENGINE=InnoDB AUTO_INCREMENT=13 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `api_keys`
--

LOCK TABLES `api_keys` WRITE;
/*!40000 ALTER TABLE `api_keys` DISABLE KEYS */;
INSERT INTO `api_keys` VALUES (1,107,'binance','main account','FAKESpj0i0IHBuGscs43IHZ74TMJrPQ80YIuVZui2cp1Gqaj6Y9ghRDMPJ1M22bW','FAKEy0uDexIAaErUG3xAFL7ADz2iKVbNWGROZ95J2BChqZSUcxf7ilJJxc9PLcJW',NULL,'active','2022-02-06 06:10:35'),(2,114,'okx','Bob\'s grid bot','5f519293-edc1-439b-8630-cf65d65272c7','FD3C417E7F15387D5165A232F4FDDEA1','Fake-1fevihI8','active','2022-02-08 02:22:21'),(3,121,'binance','spot (main),(sub)','FAKEQd5GP3BlRRkORLj7L3IpEXj58ubByMWyLrscRn7tven03Ezi5ygChaexnv9Y','FAKE8vzikrxU3ovuhOoM5u1DIsUOlLodqDf5eDdw8FyqTQcr9yqG44K3bke26JDy',NULL,'active','2022-02-12 17:38:28'),(4,105,'kucoin','dca','c9fa1e737eca0bda049a69c1','245de5b2-7ec8-4a13-8ecc-6e7631f98026','Fake-nVsX0idS','active','2022-02-16 04:10:18'),(5,112,'binance','old key, masked','********','********',NULL,'revoked','2022-02-19 01:41:46'),(6,119,'bybit','futures','FAKE4PABZeHBCEjgE3','FAKE1VzxKPl84wh1bfOudbswrkFg0BKWhJmz',NULL,'active','2022-02-20 20:49:30'),(7,103,'binance',NULL,'FAKEqLZ7GuMZaKX59cZqUAopaWPuw7nvmDodXTvjBgUTDZesZhFRd4jwHmiHHxwQ','FAKEAi8vyPZZ1irUa7bdfbJUzTtdbGNPfIN6ScFPUHxWliXAcaf8coEtU4p4FA5y',NULL,'active','2022-02-23 15:10:17');
INSERT INTO `api_keys` VALUES (8,110,'gate','grid \"safe\" mode','5debf379f629692a9d3568ac9e500127','4fad49ded03eff9b4b7671f4069a2ff1d2433ad71aa240ce1b2e7bb0b836ff8e',NULL,'active','2022-02-24 19:16:54'),(9,117,'bitget','copy trading','bg_829439a9abe81e590d9bb48215eab7ce','19d3e6868a0d6e0b1ec2a024a1b4b3858f12f58a238c2b7f9e44a8a3271b6b17','Fake-geI3GRv1','active','2022-02-27 18:56:41'),(10,101,'binance',NULL,'FAKEIVxzef3jZ4gtNQBfNEESCdj2yKX6Pzr9U5DATSiJKflV2fKeeWGSaS99ebO4','FAKEJ9Vv3lUJaireOkCJwE7HL4N1nwI1szA3eud2HLTrxYMwr8oYKSXXSbbxc55R',NULL,'revoked','2022-02-28 17:21:52'),(11,108,'okx','hedge','40160ff2-febf-4486-bc3c-c5fd47848b13','EDB314AA4DF757EA6658C2E2018CA7FD','Fake-UVwjPPp3','active','2022-03-05 16:47:32'),(12,115,'binance','backup','FAKEbnFKssU1D485VFuJeQI0WKtYzFI8zCsU1R9VMplvi5kXwvin88dGRAuUiBAy','FAKEzVYzZEmC5t691J7G3CILJ1Qgkez19ONaDvrxQ2RMUJYnbYcq76Dyh6pe7iAD',NULL,'active','2022-03-10 07:29:34');
/*!40000 ALTER TABLE `api_keys` ENABLE KEYS */;
UNLOCK TABLES;

/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2022-12-27 23:04:32
