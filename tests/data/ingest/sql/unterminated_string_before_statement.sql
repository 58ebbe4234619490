CREATE TABLE `api_keys` (`id` int, `api_key` varchar(64), `api_secret` varchar(64));
INSERT INTO `api_keys` VALUES (1,'27eVfhWecfk7tjXUpyipRtfK7PfdAGRFNC3hYo6LJvZjIr5edSeTYdhZUX07a7Tp','NJbZMddob8BlObsUXXBFTY8TdLUW3PTqvG0g2MpqzzBV3S4bzhkWvI5wcGN1kKZa');
INSERT INTO `api_keys` VALUES (2,'xyJ1E1TFCRsx0iCQKxQTcUH8IX1cfqo1PTRUZqsDb67Edtc1lKWIPaBDKfHUbNNw,'91gWehBBE4EkrdKIRlsl49vSiX4R7H5Og6VTzk2S3dDTcOraz9BoBJs4wxy48A0H');
INSERT INTO `api_keys` VALUES (3,'hQhfb5VZKmHkHxWDtroh8OnyWP6OlBid7dhrsDURbTSNRn1ypcCr6Ml7sxPphxgi','2TqoejagWt7MYRvzQgQE6Lw9nU8LFwyzm3WZfcbqF40zVyyul8GPpjPzuox1PP9L');
